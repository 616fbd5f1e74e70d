import { DeadlineError, DroppedError, QueueFullError } from './batcher.js';
import { BadRequestError } from './instances.js';

/** An answer other than 200, with its HTTP status; `retryAfter` (seconds) goes with 503s. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/**
 * The status of any error a request ends with. The client's mistakes are 4xx by type; 5xx is left for overload
 * (503), deadlines (504) and the server's own faults (500), so client input can never produce a 500.
 */
export function errorStatus(error: unknown): { status: number; message: string; retryAfter?: number } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof HttpError) return { status: error.status, message, retryAfter: error.retryAfter };
  if (error instanceof BadRequestError) return { status: 400, message };
  if (error instanceof QueueFullError) return { status: 503, message, retryAfter: error.retryAfter };
  if (error instanceof DeadlineError) return { status: 504, message };
  // Nobody reads the answer to a request whose client went away; 499 is what nginx logs for it.
  if (error instanceof DroppedError) return { status: 499, message };
  return { status: 500, message };
}
