/**
 * The smallest deployment: answers every request with a greeting.
 *
 * ```sh
 * deploy-tenant project create hello-world
 * deploy-tenant deploy examples/hello --project hello-world
 * ```
 *
 * @module
 */
export default {
  fetch(): Response {
    return new Response("Hello, world!\n");
  },
};
