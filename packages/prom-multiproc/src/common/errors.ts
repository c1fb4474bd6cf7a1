// Named errors, so callers can tell a mistake in their code from a problem with the directory.

/** A metric, label or value that the caller got wrong; thrown at the call site. */
export class MetricConfigurationError extends Error {
  override name = 'MetricConfigurationError';
}

/** The shared directory is missing, not a directory, or not writable. */
export class MultiprocessDirectoryError extends Error {
  override name = 'MultiprocessDirectoryError';
  constructor(
    message: string,
    readonly dir: string,
  ) {
    super(message);
  }
}
