// What the acceptance test reuses: start replicas as processes, and the demo client.
export { type DemoResult, runDemo } from './client.js';
export { type Replica, type ReplicaOptions, startReplica } from './replica.js';
export { type Replicas, startReplicas } from './replicas.js';
