/** Vite's `?raw` imports: a module's source text, for checks on the code itself. */
declare module "*?raw" {
  const source: string;
  export default source;
}
