// Errors that cross module boundaries carry a stable code, so callers and tests match on it.

export class S3apError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A setting (flag, environment variable or config file key) is unknown or malformed. */
export class ConfigError extends S3apError {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super('S3AP_ERR_CONFIG', `${setting}: ${message}`);
    this.setting = setting;
  }
}

/** A CLI invocation is wrong (unknown command, missing flag). */
export class UsageError extends S3apError {
  constructor(message: string) {
    super('S3AP_ERR_USAGE', message);
  }
}
