/** The request ceiling: the least a Worker can do on this runtime. */
export default {
  fetch: () => new Response("hello world"),
} satisfies ExportedHandler;
