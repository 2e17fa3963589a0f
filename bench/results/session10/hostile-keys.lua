counter = 0
request = function()
  counter = counter + 1
  local key = "AKIA" .. math.random(1, 5000)
  if counter % 1000 == 0 then key = string.rep("K", 3000) end
  wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=" .. key .. "/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
  return wrk.format()
end
