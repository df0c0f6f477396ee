/**
 * The gateway configurations the bench runs: the realistic one (every feature a deployment would
 * switch on) and its variants for the replica and rule counts.
 */
import type { HeaderRule } from '../../gateway/src/policy/schema.js';

/** A replica whose gRPC port is given (the simulator's, for the gRPC section). */
export interface GrpcReplica {
  readonly url: string;
  readonly grpcPort: number;
}

export interface GatewayVariant {
  /** Replicas, used for both pools (the backend answers for any version). */
  readonly replicas: readonly (string | GrpcReplica)[];
  readonly headerRules: readonly HeaderRule[];
  /** Each pool's subsetSize (deterministic subsetting); absent: every replica. */
  readonly subsetSize?: number;
  /** proxy.connectionsPerReplica; absent: the gateway's default. */
  readonly connectionsPerReplica?: number;
}

/** A switch (`x-canary: always|never`) and a regex on user-agent that the bench's client never matches. */
export const REALISTIC_RULES: readonly HeaderRule[] = [
  { header: 'x-canary' },
  { header: 'user-agent', regex: '^beta-app/', to: 'canary' },
];

/**
 * `count` rules that decide nothing for the bench's requests: the x-canary switch first, then
 * `equals` rules on distinct headers the request does not carry, one in ten a regex instead, as a
 * policy accumulated over many experiments would look.
 */
export function manyRules(count: number): HeaderRule[] {
  const rules: HeaderRule[] = [{ header: 'x-canary' }];
  for (let i = 1; i < count; i++) {
    rules.push(
      i % 10 === 0
        ? { header: `x-experiment-${i}`, regex: `^cohort-${i}-(a|b)$`, to: 'canary' }
        : { header: `x-feature-${i}`, equals: `enabled-${i}`, to: i % 2 === 0 ? 'canary' : 'stable' },
    );
  }
  return rules;
}

function pool(variant: GatewayVariant): Record<string, unknown> {
  return variant.subsetSize === undefined ? { replicas: variant.replicas } : { replicas: variant.replicas, subsetSize: variant.subsetSize };
}

export function gatewayConfig(variant: GatewayVariant): Record<string, unknown> {
  return {
    // Named, so a subset is the same from run to run (it is chosen by this name's rendezvous ranking).
    proxy: { instanceId: 'bench-gateway', ...(variant.connectionsPerReplica === undefined ? {} : { connectionsPerReplica: variant.connectionsPerReplica }) },
    listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    store: { type: 'memory' },
    models: {
      half_plus_two: {
        pools: { '1': pool(variant), '2': pool(variant) },
        policy: {
          stable: 1,
          canary: 2,
          percent: 10,
          headerRules: variant.headerRules,
          // Configured but absent from the bench's requests: looked up on every request, then the
          // weighted split decides (a constant key would pin every request to one cohort).
          sticky: { header: 'x-user-id' },
        },
      },
    },
  };
}
