/**
 * The process logger: pino, writing JSON lines (the default when stdout is not a terminal:
 * log collectors and the tests read them) or human-readable lines through pino-pretty (the
 * default on a terminal). Times are epoch milliseconds in JSON unless `--log-time iso`;
 * pretty output always shows ISO-8601 UTC times.
 */
import pino, { type Logger, type LoggerOptions } from "pino";
import pretty from "pino-pretty";

/** The logging settings of src/config.ts. */
export interface LogSettings {
  readonly logFormat: "auto" | "json" | "pretty";
  readonly logTime: "epoch" | "iso";
}

/** "auto" resolved against the stream the log goes to. */
export function resolvedLogFormat(format: LogSettings["logFormat"], isTty: boolean = process.stdout.isTTY === true): "json" | "pretty" {
  if (format !== "auto") return format;
  return isTty ? "pretty" : "json";
}

/** A logger with `options` (level, base fields, redaction) writing in the configured format. */
export function createLogger(options: LoggerOptions, settings: LogSettings): Logger {
  const timestamp = settings.logTime === "iso" ? pino.stdTimeFunctions.isoTime : pino.stdTimeFunctions.epochTime;
  if (resolvedLogFormat(settings.logFormat) === "json") {
    // Synchronous writes to fd 1. pino's default destination writes asynchronously and, on
    // process.exit, flushes synchronously; when stdout's reader is gone (a supervisor's log
    // pipe closed, an orphan whose parent died) that flush retries EPIPE forever and the
    // process never exits after "stopped". A synchronous write sees EPIPE at once, and pino
    // then drops further lines.
    return pino({ ...options, timestamp }, pino.destination({ dest: 1, sync: true }));
  }
  // In-process and synchronous (not a transport on a worker thread): the last lines before a
  // shutdown's process.exit are not lost, and nothing more runs in the process.
  const stream = pretty({
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
    ignore: "pid,hostname,service",
  });
  return pino({ ...options, timestamp }, stream);
}
