import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, resolveLimits } from './limits.js';
import { collect, startTestServer, type TestServer } from './test-support.js';

/** `{ me { kind } }` nested `depth` levels deep, using inline fragments (valid at any depth). */
const nested = (depth: number) =>
  `{ me { ${'... on Actor { '.repeat(depth - 2)}kind${' }'.repeat(depth - 2)} } }`;

const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: me { kind }`).join(' ')} }`;

const limitError = (limit: string, max: number) =>
  expect.objectContaining({
    message: expect.stringContaining(`the limit is ${max} (${limit})`),
    extensions: expect.objectContaining({ code: 'LIMIT_EXCEEDED', limit, max }),
  });

describe('operation limits', () => {
  let t: TestServer;
  let tight: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    tight = await startTestServer({ og: t.og, limits: { maxDepth: 3, maxCost: 50, maxAliases: 1 } });
  });
  afterAll(async () => {
    await tight?.close();
    await t?.close();
  });

  it('has serious defaults', () => {
    expect(DEFAULT_LIMITS).toEqual({
      maxDepth: 12,
      maxCost: 10_000,
      maxAliases: 15,
      maxTokens: 1000,
      maxDirectives: 50,
    });
    expect(resolveLimits({ maxDepth: 4 })).toEqual({ ...DEFAULT_LIMITS, maxDepth: 4 });
    expect(() => resolveLimits({ maxDepth: 0 })).toThrow(/limits.maxDepth must be a positive integer/);
    expect(() => resolveLimits({ maxCost: Number.NaN })).toThrow(/limits.maxCost/);
  });

  it('refuses an operation deeper than 12 by default over HTTP, with the limit and what to do', async () => {
    const ok = await t.gql(nested(12), undefined, t.tokens.reader);
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data?.me.kind).toBe('token');

    const { status, body } = await t.gql(nested(13), undefined, t.tokens.reader);
    expect(status).toBe(400);
    expect(body.data).toBeUndefined();
    expect(body.errors).toEqual([limitError('maxDepth', 12)]);
    expect(body.errors?.[0]?.extensions?.found).toBe(13);
    expect(body.errors?.[0]?.message).toBe(
      'The operation is nested 13 levels deep; the limit is 12 (maxDepth). Select fewer nested levels, or split it into several operations.',
    );
  });

  it('takes the limits given to createOpsGraphServer', async () => {
    const deep = await tight.gql('{ cis { edges { node { id } } } }', undefined, t.tokens.reader);
    expect(deep.body.errors).toContainEqual(limitError('maxDepth', 3));
    const costly = await tight.gql('{ cis(first: 100) { __typename } }', undefined, t.tokens.reader);
    expect(costly.body.errors).toContainEqual(limitError('maxCost', 50));
    const aliased = await tight.gql('{ a: me { kind } b: me { kind } }', undefined, t.tokens.reader);
    expect(aliased.body.errors).toEqual([limitError('maxAliases', 1)]);
  });

  it('refuses a costly operation (a large page of CIs with every field and their relationships)', async () => {
    const fields =
      'id name class status environment tags version createdAt updatedAt retiredAt attributes relationships { type source { name } target { name } }';
    const page = (first: number) => `{ cis(first: ${first}) { edges { node { ${fields} } } } }`;
    expect((await t.gql(page(100), undefined, t.tokens.reader)).body.errors).toBeUndefined();
    const { body } = await t.gql(page(500), undefined, t.tokens.reader);
    expect(body.errors).toEqual([limitError('maxCost', 10_000)]);
    expect(body.errors?.[0]?.message).toMatch(/smaller pages/);
  });

  it('refuses more than 15 aliases', async () => {
    expect((await t.gql(aliases(15), undefined, t.tokens.reader)).body.errors).toBeUndefined();
    const { body } = await t.gql(aliases(16), undefined, t.tokens.reader);
    expect(body.errors).toEqual([limitError('maxAliases', 15)]);
  });

  it('refuses a document of more than 1000 tokens while parsing', async () => {
    const { status, body } = await t.gql(`{ me { ${'kind '.repeat(1000)}} }`, undefined, t.tokens.reader);
    expect(status).toBe(400);
    expect(body.errors).toEqual([
      expect.objectContaining({
        message:
          'The document has more than 1000 tokens (maxTokens). Send a shorter document, or split it into several operations.',
        extensions: expect.objectContaining({ code: 'LIMIT_EXCEEDED', limit: 'maxTokens', max: 1000 }),
      }),
    ]);
  });

  it('refuses more than 50 directives', async () => {
    const { body } = await t.gql(
      `{ me { kind ${'@include(if: true) '.repeat(51)}} }`,
      undefined,
      t.tokens.reader,
    );
    expect(body.errors).toContainEqual(limitError('maxDirectives', 50));
  });

  describe('over WebSocket', () => {
    it('refuses a too-deep operation with an error for that operation only; the socket lives on', async () => {
      const client = t.wsClient({ token: t.tokens.admin });
      const closed: number[] = [];
      client.on('closed', (event) => closed.push((event as { code: number }).code));
      // A live subscription on the same socket must survive the refusal (no 4500 close).
      let id: string | undefined;
      const live = collect(
        client,
        {
          query:
            'subscription ($after: Seq) { activity(after: $after, types: ["ci.created"]) { subjectId } }',
          variables: { after: await t.og.activity.latestSeq() },
        },
        (result) => id !== undefined && result.data?.activity?.subjectId === id,
      );
      const refused = await collect(client, { query: nested(13) }).done;
      expect(refused.results).toEqual([]);
      expect(refused.error).toEqual([limitError('maxDepth', 12)]);

      const { body } = await t.gql(
        'mutation { createCI(input: { class: "linux_server", name: "ws-limit-01" }) { ... on MutationCreateCISuccess { data { id } } } }',
        undefined,
        t.tokens.admin,
      );
      id = body.data?.createCI.data.id;
      expect(id).toBeTypeOf('string');
      const { results, error } = await live.done;
      expect(error).toBeUndefined();
      expect(results.at(-1)?.data?.activity.subjectId).toBe(id);
      expect(closed).toEqual([]);
    });

    it('applies every limit there too, each reported once', async () => {
      const client = tight.wsClient({ token: t.tokens.reader });
      const deep = await collect(client, { query: '{ cis { edges { node { id } } } }' }).done;
      expect(deep.error).toContainEqual(limitError('maxDepth', 3));
      const aliased = await collect(client, { query: '{ a: me { kind } b: me { kind } }' }).done;
      expect(aliased.error).toEqual([limitError('maxAliases', 1)]);
      const tokens = await collect(t.wsClient({ token: t.tokens.reader }), {
        query: `{ me { ${'kind '.repeat(1000)}} }`,
      }).done;
      expect(tokens.error).toEqual([
        expect.objectContaining({ extensions: expect.objectContaining({ limit: 'maxTokens' }) }),
      ]);
    });

    it('refuses introspection and hides field suggestions when development is off', async () => {
      const client = t.wsClient({ token: t.tokens.admin });
      const schema = await collect(client, { query: '{ __schema { queryType { name } } }' }).done;
      expect(schema.results).toEqual([]);
      // The rule names each introspection field once: `__schema`, then `queryType` (of type __Schema).
      expect(schema.error).toEqual([
        expect.objectContaining({ message: expect.stringMatching(/introspection.*"__schema"/i) }),
        expect.objectContaining({ message: expect.stringMatching(/introspection.*"queryType"/i) }),
      ]);
      const typo = await collect(client, { query: '{ me { kinf } }' }).done;
      expect(typo.error).toEqual([
        expect.objectContaining({ message: expect.stringContaining('Cannot query field "kinf"') }),
      ]);
      expect(JSON.stringify(typo.error)).not.toContain('Did you mean');
    });

    it('allows introspection over WebSocket in development', async () => {
      const dev = await startTestServer({ og: t.og, development: true });
      try {
        const result = await collect(dev.wsClient(), { query: '{ __schema { queryType { name } } }' }).done;
        expect(result.results).toEqual([{ data: { __schema: { queryType: { name: 'Query' } } } }]);
      } finally {
        await dev.close();
      }
    });
  });
});
