import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { type MaxDepthOptions, maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { MaxTokensParserWLexer } from '@escape.tech/graphql-armor-max-tokens';
import {
  type DocumentNode,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  type ParseOptions,
  type Source,
  type ValidationRule,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Static limits on an operation, checked before it runs (HTTP, SSE and WebSocket alike). */
export interface OperationLimits {
  /** Deepest nesting of selections (a connection's `edges { node { … } }` counts 2). Default 12. */
  readonly maxDepth?: number;
  /**
   * Estimated cost: each object field 2, each scalar 1, children weigh 1.5× per level, a literal
   * `first`/`last` multiplies its selection. Default 10,000: a page of 100 CIs with their classes and
   * relationships (about 8,000) passes; a page of 500 with relationships does not.
   */
  readonly maxCost?: number;
  /** Aliased fields per operation. Default 15. */
  readonly maxAliases?: number;
  /** Lexical tokens in the document (checked while parsing, before anything else). Default 1000. */
  readonly maxTokens?: number;
  /** Directives per operation. Default 50. */
  readonly maxDirectives?: number;
}

export const DEFAULT_LIMITS: Required<OperationLimits> = Object.freeze({
  maxDepth: 12,
  maxCost: 10_000,
  maxAliases: 15,
  maxTokens: 1000,
  maxDirectives: 50,
});

/** The code of every error that refuses an operation for a limit (`extensions.code`). */
export const LIMIT_EXCEEDED = 'LIMIT_EXCEEDED';

const advice: Record<keyof OperationLimits, (max: number, found: string | undefined) => string> = {
  maxDepth: (max, found) =>
    `The operation is nested ${found ?? 'more'} levels deep; the limit is ${max} (maxDepth). Select fewer nested levels, or split it into several operations.`,
  maxCost: (max, found) =>
    `The operation's estimated cost is ${found ?? 'too high'}; the limit is ${max} (maxCost). Ask for smaller pages (first/last), fewer fields or fewer nested levels, or split it into several operations.`,
  maxAliases: (max, found) =>
    `The operation uses ${found ?? 'too many'} aliases; the limit is ${max} (maxAliases). Use fewer aliases, or split it into several operations.`,
  maxDirectives: (max, found) =>
    `The operation uses ${found ?? 'too many'} directives; the limit is ${max} (maxDirectives). Use fewer directives, or split it into several operations.`,
  maxTokens: (max) =>
    `The document has more than ${max} tokens (maxTokens). Send a shorter document, or split it into several operations.`,
};

/** A clear error for a refused limit, with the limit's name and value in the extensions. */
function limitError(limit: keyof OperationLimits, max: number, rejected: GraphQLError): GraphQLError {
  // graphql-armor words its messages "… limit of N exceeded, found M."; keep M when it is there.
  // The cost estimate is fractional (36857770.40313336): say it in whole units.
  const raw = /found (\d+(?:\.\d+)?)/.exec(rejected.message)?.[1];
  const found = raw === undefined ? undefined : String(Math.ceil(Number(raw)));
  return new GraphQLError(advice[limit](max, found), {
    ...(rejected.nodes ? { nodes: rejected.nodes } : {}),
    extensions: { code: LIMIT_EXCEEDED, limit, max, ...(found ? { found: Number(found) } : {}) },
  });
}

/**
 * graphql-armor's rules throw on rejection by default, which aborts validation (and on a WebSocket
 * would close the socket and every subscription on it): report the error instead.
 */
function report(
  limit: keyof OperationLimits,
  max: number,
): Pick<MaxDepthOptions, 'onReject' | 'propagateOnRejection'> {
  return {
    onReject: [(context, error) => context?.reportError(limitError(limit, max, error))],
    propagateOnRejection: false,
  };
}

export function resolveLimits(limits: OperationLimits = {}): Required<OperationLimits> {
  const resolved = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof OperationLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new TypeError(`limits.${key} must be a positive integer, got ${String(value)}`);
    }
    resolved[key] = value;
  }
  return resolved;
}

/** The validation rules that enforce the limits (and refuse introspection outside development). */
export function protectionRules(limits: Required<OperationLimits>, development: boolean): ValidationRule[] {
  return [
    ...(development ? [] : [NoSchemaIntrospectionCustomRule]),
    maxDepthRule({ n: limits.maxDepth, ...report('maxDepth', limits.maxDepth) }),
    costLimitRule({ maxCost: limits.maxCost, ...report('maxCost', limits.maxCost) }),
    maxAliasesRule({ n: limits.maxAliases, ...report('maxAliases', limits.maxAliases) }),
    maxDirectivesRule({ n: limits.maxDirectives, ...report('maxDirectives', limits.maxDirectives) }),
  ];
}

/**
 * One envelop plugin for every operation-level protection: token limit at parse time, validation
 * rules, and (outside development) no "Did you mean …" field suggestions that would reveal the schema
 * introspection is hiding. Being envelop hooks, they run wherever `yoga.getEnveloped()` parses and
 * validates: Yoga's HTTP and SSE handling, and the graphql-ws `onSubscribe`.
 */
export function useOperationProtections(options: {
  limits: Required<OperationLimits>;
  development: boolean;
}): Plugin {
  const { limits, development } = options;
  const rules = protectionRules(limits, development);
  const parseWithTokenLimit = (source: string | Source, parseOptions?: ParseOptions): DocumentNode => {
    const parser = new MaxTokensParserWLexer(source, {
      ...parseOptions,
      n: limits.maxTokens,
      propagateOnRejection: false,
      onReject: [
        (_context, error) => {
          throw limitError('maxTokens', limits.maxTokens, error);
        },
      ],
    });
    return parser.parseDocument();
  };
  const hideSuggestions = development ? undefined : blockFieldSuggestionsPlugin();
  return {
    onParse({ setParseFn }) {
      setParseFn(parseWithTokenLimit);
    },
    onValidate(payload) {
      for (const rule of rules) payload.addValidationRule(rule);
      return hideSuggestions?.onValidate?.(payload as never);
    },
  };
}
