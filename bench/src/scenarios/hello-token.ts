import { helloScenario } from './hello.js';

// As `hello`, with the token looked up in the database on every request (hash, then an indexed SELECT).
export default helloScenario({
  name: 'hello-token',
  description: 'as hello, with a Bearer API token: adds the per-request token lookup in the database',
  withToken: true,
});
