/** A command's outcome when it is not plain success: the exit code and what to print (the cause only with --verbose). */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliExit';
  }
}
