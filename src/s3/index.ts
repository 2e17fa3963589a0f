// Public surface of src/s3: pure functions that understand an S3 request (plus the optional verifier).
export type {
  AddressingStyle, AuthInfo, AuthType, CopySource, S3RequestInfo, S3RequestInput,
} from './types.js';
export { parseTarget, parseQuery, percentDecode, splitTarget, hostName, type S3Target } from './addressing.js';
export { classify, parseCopySource } from './classify.js';
export { HostRules, LOOPBACK_NAMES, isIpLiteral, type HostReading, type HostRulesSpec } from './host-rules.js';
export { interpretRequest, type InterpretPolicy, type Interpretation, type Refusal } from './interpret.js';
export { API_RULES, API_LEVEL, type ApiRule, type TargetLevel } from './api-rules.js';
export { parseAuth, payloadSigningOf } from './auth.js';
export { redactQuery, redactHeaders, isSecretQueryName, isNeverLoggedHeader, REDACTED } from './redact.js';
export { parseS3ErrorBody, errorCodeForStatus } from './error-body.js';
export {
  parseDeleteObjectsRequest, parseDeleteObjectsResult, deleteEntryId, deleteObjectsOutcomes,
  DeleteObjectsRequestStream, DeleteObjectsResultStream, MAX_DELETE_OBJECTS,
  type DeleteObjectsKey, type DeleteObjectOutcome, type DeleteObjectsEntryResult, type MemoryReserve,
} from './delete-objects.js';
export { XmlStreamScanner, type XmlStreamSink } from './xml-stream.js';
export { AwsChunkedDecoder } from './aws-chunked.js';
export {
  SignatureVerifier, loadCredentialsFile, type VerifyResult, type VerifyFailureCode, type VerifierOptions,
} from './verify.js';
