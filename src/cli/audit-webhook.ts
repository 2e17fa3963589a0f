// Placeholder until the admin plane lands (issue 5).
export async function auditWebhookCommand(): Promise<number> {
  process.stderr.write('s3-audit-proxy audit-webhook: not available yet\n');
  return 2;
}
