// Child of accept-queues.ts: receives the S3 listener's socket once and sends it back `copies`
// times. Every message carries the socket as SCM_RIGHTS, so the parent gets a new descriptor for
// the same listening socket each time. The handle stays a raw one here (never listened on), so
// this process never accepts a client connection. The parent ends it once every copy arrived
// (handle messages wait for the receiver's acknowledgement, so leaving earlier could lose some);
// it also leaves when the parent goes away.
process.once('disconnect', () => process.exit(0));
process.once('message', (message: unknown, handle: unknown) => {
  const copies = typeof message === 'object' && message !== null ? Number((message as { copies?: unknown }).copies) : 0;
  const send = process.send?.bind(process);
  if (!send || handle === undefined || !Number.isSafeInteger(copies) || copies < 1) {
    process.exit(1);
  }
  let sent = 0;
  const next = (err: Error | null): void => {
    if (err !== null) process.exit(1);
    if (sent === copies) return;
    sent++;
    send({ copy: sent }, handle as never, {}, next);
  };
  next(null);
});
