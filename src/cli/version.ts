/**
 * @module
 * The version `sallyport -version` prints.
 */

// The release build replaces this identifier:
//   bun build --compile --define SALLYPORT_VERSION='"1.2.3"' src/main.ts
// `typeof` keeps an unreplaced name from throwing a ReferenceError in dev and tests.
declare const SALLYPORT_VERSION: string | undefined;

/** `SALLYPORT_VERSION` when the build defines it, else the package version. */
export const VERSION: string = typeof SALLYPORT_VERSION === "string" ? SALLYPORT_VERSION : "0.1.0";
