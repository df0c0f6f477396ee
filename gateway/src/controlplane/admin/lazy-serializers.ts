/**
 * Response serializers compiled when a route first answers with that status, not when the route is
 * registered. Fastify's own factory (fast-json-stringify, which also leaves out what a response
 * schema does not list) compiles one serializer per route and status at start-up: 24 of them in
 * the admin API, about 85 KB of generated source each, held for the life of the process though
 * most are never used by a gateway nobody is administering (README, Performance: memory).
 */
import SerializerSelector from '@fastify/fast-json-stringify-compiler';

type Factory = ReturnType<typeof SerializerSelector>;

/** Fastify's `schemaController.compilersFactory.buildSerializer`, deferring each compile to first use. */
export const lazySerializers: Factory = (externalSchemas, options) => {
  const compile = SerializerSelector()(externalSchemas, options);
  return (route) => {
    let serialize: ((doc: unknown) => string) | undefined;
    return (doc: unknown) => (serialize ??= compile(route))(doc);
  };
};
