/**
 * A GraphQL lexer and parser whose output is the AST OPA's graphql.* builtins
 * return: the JSON form of gqlparser's structs (Go field names), with null and
 * empty list/object fields dropped and empty strings and false booleans kept.
 * Grammar decisions follow gqlparser where it differs from the spec's reference
 * implementation (e.g. extensions of undefined types parse; an empty document
 * is a valid query document). Any syntax error throws GraphQLSyntaxError.
 */

export class GraphQLSyntaxError extends Error {}

type Kind =
  | 'EOF' | 'Bang' | 'Dollar' | 'Amp' | 'ParenL' | 'ParenR' | 'Spread' | 'Colon' | 'Equals' | 'At'
  | 'BracketL' | 'BracketR' | 'BraceL' | 'BraceR' | 'Pipe' | 'Name' | 'Int' | 'Float' | 'String' | 'BlockString';

interface Token {
  kind: Kind;
  value: string;
  line: number;
  col: number;
}

const PUNCT: Record<string, Kind> = {
  '!': 'Bang', $: 'Dollar', '&': 'Amp', '(': 'ParenL', ')': 'ParenR', ':': 'Colon', '=': 'Equals', '@': 'At',
  '[': 'BracketL', ']': 'BracketR', '{': 'BraceL', '}': 'BraceR', '|': 'Pipe',
};

function isNameStart(c: string | undefined): boolean {
  return c !== undefined && /[_A-Za-z]/.test(c);
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** The spec's BlockStringValue: common indentation and blank first/last lines removed. */
function blockStringValue(raw: string): string {
  const lines = raw.split(/\r\n|\r|\n/);
  let common = Infinity;
  lines.forEach((line, i) => {
    if (i === 0) return;
    const indent = line.length - line.replace(/^[ \t]+/, '').length;
    if (indent < line.length && indent < common) common = indent;
  });
  const out = lines.map((l, i) => (i === 0 || common === Infinity ? l : l.slice(common)));
  while (out.length > 0 && /^[ \t]*$/.test(out[0])) out.shift();
  while (out.length > 0 && /^[ \t]*$/.test(out[out.length - 1])) out.pop();
  return out.join('\n');
}

class Lexer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;

  constructor(private readonly src: string) {}

  private fail(msg: string): never {
    throw new GraphQLSyntaxError(`${msg} (line ${this.line}, column ${this.pos - this.lineStart + 1})`);
  }

  next(): Token {
    const s = this.src;
    // Whitespace, commas, comments, BOM.
    for (;;) {
      const c = s[this.pos];
      if (c === ' ' || c === '\t' || c === ',' || c === '\ufeff') this.pos++;
      else if (c === '\n') {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else if (c === '\r') {
        this.pos++;
        if (s[this.pos] === '\n') this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n' && s[this.pos] !== '\r') this.pos++;
      } else break;
    }
    const line = this.line;
    const col = this.pos - this.lineStart + 1;
    const tok = (kind: Kind, value = ''): Token => ({ kind, value, line, col });
    if (this.pos >= s.length) return tok('EOF');
    const c = s[this.pos];
    if (c in PUNCT) {
      this.pos++;
      return tok(PUNCT[c]);
    }
    if (c === '.') {
      if (s.startsWith('...', this.pos)) {
        this.pos += 3;
        return tok('Spread');
      }
      this.fail('Unexpected .');
    }
    if (isNameStart(c)) {
      const start = this.pos;
      while (this.pos < s.length && /[_A-Za-z0-9]/.test(s[this.pos])) this.pos++;
      return tok('Name', s.slice(start, this.pos));
    }
    if (c === '-' || isDigit(c)) return this.number(tok);
    if (c === '"') {
      if (s.startsWith('"""', this.pos)) return this.blockString(tok);
      return this.string(tok);
    }
    return this.fail(`Unexpected character ${JSON.stringify(c)}`);
  }

  private digits(): void {
    if (!isDigit(this.src[this.pos])) this.fail('Invalid number, expected digit');
    while (isDigit(this.src[this.pos])) this.pos++;
  }

  private number(tok: (k: Kind, v: string) => Token): Token {
    const s = this.src;
    const start = this.pos;
    let float = false;
    if (s[this.pos] === '-') this.pos++;
    if (s[this.pos] === '0') {
      this.pos++;
      if (isDigit(s[this.pos])) this.fail('Invalid number, unexpected digit after 0');
    } else this.digits();
    if (s[this.pos] === '.') {
      float = true;
      this.pos++;
      this.digits();
    }
    if (s[this.pos] === 'e' || s[this.pos] === 'E') {
      float = true;
      this.pos++;
      if (s[this.pos] === '+' || s[this.pos] === '-') this.pos++;
      this.digits();
    }
    if (s[this.pos] === '.' || isNameStart(s[this.pos])) this.fail('Invalid number');
    return tok(float ? 'Float' : 'Int', s.slice(start, this.pos));
  }

  private string(tok: (k: Kind, v: string) => Token): Token {
    const s = this.src;
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= s.length) this.fail('Unterminated string');
      const c = s[this.pos];
      if (c === '\n' || c === '\r') this.fail('Unterminated string');
      if (c === '"') {
        this.pos++;
        return tok('String', out);
      }
      if (c < ' ' && c !== '\t') this.fail('Invalid character within String');
      if (c === '\\') {
        const e = s[this.pos + 1];
        const simple: Record<string, string> = { '"': '"', '/': '/', '\\': '\\', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in simple) {
          out += simple[e];
          this.pos += 2;
          continue;
        }
        if (e === 'u') {
          const hex = s.slice(this.pos + 2, this.pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('Invalid character escape sequence');
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 6;
          continue;
        }
        this.fail('Invalid character escape sequence');
      }
      out += c;
      this.pos++;
    }
  }

  private blockString(tok: (k: Kind, v: string) => Token): Token {
    const s = this.src;
    this.pos += 3;
    let raw = '';
    for (;;) {
      if (this.pos >= s.length) this.fail('Unterminated string');
      if (s.startsWith('"""', this.pos)) {
        this.pos += 3;
        return tok('BlockString', blockStringValue(raw));
      }
      if (s.startsWith('\\"""', this.pos)) {
        raw += '"""';
        this.pos += 4;
        continue;
      }
      const c = s[this.pos];
      if (c === '\n') {
        this.line++;
        this.lineStart = this.pos + 1;
      }
      raw += c;
      this.pos++;
    }
  }
}

export type Json = Record<string, unknown>;

/** gqlparser's ValueKind numbers for literal tokens. */
const SCALAR_KINDS: Partial<Record<Kind, number>> & Record<'Int' | 'Float' | 'String' | 'BlockString', number> = { Int: 1, Float: 2, String: 3, BlockString: 4 };

/** Adds key only when the list is non-empty (the pruning OPA applies). */
function list(o: Json, key: string, xs: unknown[] | undefined): void {
  if (xs && xs.length > 0) o[key] = xs;
}

const MAX_DEPTH = 500;

/** The keywords that open a type definition (or, after `extend`, a type extension). */
const TYPE_KEYWORDS = new Set(['scalar', 'type', 'interface', 'union', 'enum', 'input']);

class Parser {
  private tok: Token;
  private prevTok: Token | undefined;
  private depth = 0;
  private readonly lexer: Lexer;

  constructor(src: string) {
    this.lexer = new Lexer(src);
    this.tok = this.lexer.next();
  }

  private next(): Token {
    const t = this.tok;
    this.prevTok = t;
    this.tok = this.lexer.next();
    return t;
  }

  private unexpected(t: Token = this.tok): never {
    throw new GraphQLSyntaxError(`Unexpected ${t.kind === 'Name' ? `Name "${t.value}"` : t.kind} at ${t.line}:${t.col}`);
  }

  private expect(kind: Kind): Token {
    if (this.tok.kind !== kind) {
      throw new GraphQLSyntaxError(`Expected ${kind}, found ${this.tok.kind} at ${this.tok.line}:${this.tok.col}`);
    }
    return this.next();
  }

  private skip(kind: Kind): boolean {
    if (this.tok.kind !== kind) return false;
    this.next();
    return true;
  }

  private expectKeyword(word: string): void {
    if (this.tok.kind !== 'Name' || this.tok.value !== word) {
      throw new GraphQLSyntaxError(`Expected "${word}", found ${this.tok.kind} at ${this.tok.line}:${this.tok.col}`);
    }
    this.next();
  }

  private nested<T>(fn: () => T): T {
    if (++this.depth > MAX_DEPTH) throw new GraphQLSyntaxError('document nested too deeply');
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }

  /** Zero or more items between start and end; nothing when start is absent. */
  private many<T>(start: Kind, end: Kind, item: () => T): T[] {
    const out: T[] = [];
    if (!this.skip(start)) return out;
    while (this.tok.kind !== end) {
      if (this.tok.kind === 'EOF') this.unexpected();
      out.push(item());
    }
    this.next();
    return out;
  }

  /** One or more items between start and end; nothing when start is absent. */
  private some<T>(start: Kind, end: Kind, item: () => T): T[] {
    const out: T[] = [];
    if (!this.skip(start)) return out;
    if (this.tok.kind === end) throw new GraphQLSyntaxError(`expected at least one definition, found ${end}`);
    while (this.tok.kind !== end) {
      if (this.tok.kind === 'EOF') this.unexpected();
      out.push(item());
    }
    this.next();
    return out;
  }

  private name(): string {
    return this.expect('Name').value;
  }

  private description(): { text: string; present: boolean } {
    if (this.tok.kind === 'String' || this.tok.kind === 'BlockString') return { text: this.next().value, present: true };
    return { text: '', present: false };
  }

  // ---- query documents ----

  queryDocument(): Json {
    const operations: Json[] = [];
    const fragments: Json[] = [];
    while (this.tok.kind !== 'EOF') {
      const desc = this.description();
      const t = this.tok;
      if (t.kind === 'Name' && (t.value === 'query' || t.value === 'mutation' || t.value === 'subscription')) {
        operations.push(this.operation(desc));
      } else if (t.kind === 'Name' && t.value === 'fragment') {
        fragments.push(this.fragmentDefinition(desc.text));
      } else if (t.kind === 'BraceL') {
        operations.push(this.operation(desc));
      } else this.unexpected();
    }
    const doc: Json = {};
    list(doc, 'Operations', operations);
    list(doc, 'Fragments', fragments);
    return doc;
  }

  private operation(desc: { text: string; present: boolean }): Json {
    if (this.tok.kind === 'BraceL') {
      if (desc.present) this.unexpected(this.prevTok);
      const op: Json = { Description: '', Operation: 'query', Name: '' };
      list(op, 'SelectionSet', this.requiredSelectionSet());
      return op;
    }
    const op: Json = { Description: desc.text, Operation: this.operationType(), Name: '' };
    if (this.tok.kind === 'Name') op.Name = this.next().value;
    list(op, 'VariableDefinitions', this.variableDefinitions());
    list(op, 'Directives', this.directives(false));
    list(op, 'SelectionSet', this.requiredSelectionSet());
    return op;
  }

  private operationType(): string {
    const t = this.next();
    if (t.kind === 'Name' && (t.value === 'query' || t.value === 'mutation' || t.value === 'subscription')) return t.value;
    return this.unexpected(t);
  }

  private variableDefinitions(): Json[] {
    return this.some('ParenL', 'ParenR', () => {
      const desc = this.description();
      this.expect('Dollar');
      const v: Json = { Description: desc.text, Variable: this.name() };
      this.expect('Colon');
      v.Type = this.typeReference();
      if (this.skip('Equals')) v.DefaultValue = this.value(true);
      list(v, 'Directives', this.directives(false));
      v.Used = false;
      return v;
    });
  }

  private requiredSelectionSet(): Json[] {
    if (this.tok.kind !== 'BraceL') this.expect('BraceL');
    return this.selectionSet();
  }

  private selectionSet(): Json[] {
    return this.nested(() => this.some('BraceL', 'BraceR', () => (this.tok.kind === 'Spread' ? this.fragment() : this.field())));
  }

  private field(): Json {
    const alias = this.name();
    const f: Json = { Alias: alias, Name: alias };
    if (this.skip('Colon')) f.Name = this.name();
    list(f, 'Arguments', this.arguments(false));
    list(f, 'Directives', this.directives(false));
    if (this.tok.kind === 'BraceL') list(f, 'SelectionSet', this.selectionSet());
    return f;
  }

  private arguments(isConst: boolean): Json[] {
    return this.some('ParenL', 'ParenR', () => {
      const a: Json = { Name: this.name() };
      this.expect('Colon');
      a.Value = this.value(isConst);
      return a;
    });
  }

  private fragment(): Json {
    this.expect('Spread');
    if (this.tok.kind === 'Name' && this.tok.value !== 'on') {
      const s: Json = { Name: this.fragmentName() };
      list(s, 'Directives', this.directives(false));
      return s;
    }
    const inline: Json = { TypeCondition: '' };
    if (this.tok.kind === 'Name' && this.tok.value === 'on') {
      this.next();
      inline.TypeCondition = this.name();
    }
    list(inline, 'Directives', this.directives(false));
    list(inline, 'SelectionSet', this.requiredSelectionSet());
    return inline;
  }

  private fragmentName(): string {
    if (this.tok.kind === 'Name' && this.tok.value === 'on') this.unexpected();
    return this.name();
  }

  private fragmentDefinition(description: string): Json {
    this.expectKeyword('fragment');
    const f: Json = { Description: description, Name: this.fragmentName() };
    list(f, 'VariableDefinition', this.variableDefinitions());
    this.expectKeyword('on');
    f.TypeCondition = this.name();
    list(f, 'Directives', this.directives(false));
    list(f, 'SelectionSet', this.requiredSelectionSet());
    return f;
  }

  private value(isConst: boolean): Json {
    const t = this.tok;
    const v = (kind: number, raw: string): Json => ({ Raw: raw, Kind: kind, ExpectedTypeHasDefault: false });
    switch (t.kind) {
      case 'BracketL':
        return this.nested(() => {
          const children = this.many('BracketL', 'BracketR', () => ({ Name: '', Value: this.value(isConst) }));
          const out = v(8, '');
          list(out, 'Children', children);
          return out;
        });
      case 'BraceL':
        return this.nested(() => {
          const children = this.many('BraceL', 'BraceR', () => {
            const name = this.name();
            this.expect('Colon');
            return { Name: name, Value: this.value(isConst) };
          });
          const out = v(9, '');
          list(out, 'Children', children);
          return out;
        });
      case 'Dollar':
        if (isConst) this.unexpected();
        this.next();
        return v(0, this.name());
      case 'Int':
      case 'Float':
      case 'String':
      case 'BlockString':
        this.next();
        return v(SCALAR_KINDS[t.kind], t.value);
      case 'Name':
        this.next();
        if (t.value === 'true' || t.value === 'false') return v(5, t.value);
        if (t.value === 'null') return v(6, t.value);
        return v(7, t.value);
      default:
        return this.unexpected();
    }
  }

  private directives(isConst: boolean): Json[] {
    const out: Json[] = [];
    while (this.tok.kind === 'At') {
      this.next();
      const d: Json = { Name: this.name() };
      list(d, 'Arguments', this.arguments(isConst));
      d.Location = '';
      out.push(d);
    }
    return out;
  }

  private typeReference(): Json {
    let t: Json;
    if (this.skip('BracketL')) {
      t = this.nested(() => {
        const elem = this.typeReference();
        this.expect('BracketR');
        return { NamedType: '', Elem: elem, NonNull: false };
      });
    } else {
      t = { NamedType: this.name(), NonNull: false };
    }
    if (this.skip('Bang')) t.NonNull = true;
    return t;
  }

  // ---- schema documents ----

  schemaDocument(): Json {
    const doc: Record<string, Json[]> = {
      Schema: [], SchemaExtension: [], Directives: [], DirectiveExtensions: [], Definitions: [], Extensions: [],
    };
    while (this.tok.kind !== 'EOF') {
      const desc = this.description();
      if (this.tok.kind !== 'Name') this.unexpected();
      if (TYPE_KEYWORDS.has(this.tok.value)) {
        doc.Definitions.push(this.typeDefinition(desc.text, false));
        continue;
      }
      switch (this.tok.value) {
        case 'schema':
          doc.Schema.push(this.schemaDefinition(desc.text, false));
          break;
        case 'directive':
          doc.Directives.push(this.directiveDefinition(desc.text));
          break;
        case 'extend':
          if (desc.present) this.unexpected(this.prevTok);
          this.extension(doc);
          break;
        default:
          this.unexpected();
      }
    }
    const out: Json = {};
    for (const [k, v] of Object.entries(doc)) list(out, k, v);
    return out;
  }

  private extension(doc: Record<string, Json[]>): void {
    this.expectKeyword('extend');
    if (this.tok.kind !== 'Name') this.unexpected();
    if (TYPE_KEYWORDS.has(this.tok.value)) {
      doc.Extensions.push(this.typeDefinition('', true));
      return;
    }
    switch (this.tok.value) {
      case 'schema':
        doc.SchemaExtension.push(this.schemaDefinition('', true));
        return;
      case 'directive': {
        this.next();
        this.expect('At');
        const d: Json = { Description: '', Name: this.name() };
        const dirs = this.directives(true);
        if (dirs.length === 0) this.unexpected();
        list(d, 'Directives', dirs);
        d.IsRepeatable = false;
        doc.DirectiveExtensions.push(d);
        return;
      }
      default:
        this.unexpected();
    }
  }

  private schemaDefinition(description: string, extension: boolean): Json {
    this.expectKeyword('schema');
    const d: Json = { Description: description };
    const dirs = this.directives(true);
    list(d, 'Directives', dirs);
    const ops = (extension ? this.many.bind(this) : this.some.bind(this))('BraceL', 'BraceR', () => {
      const op = this.operationType();
      this.expect('Colon');
      return { Operation: op, Type: this.name() };
    });
    if (extension && dirs.length === 0 && ops.length === 0) this.unexpected();
    list(d, 'OperationTypes', ops);
    return d;
  }

  private typeDefinition(description: string, extension: boolean): Json {
    const keyword = this.next().value;
    const kind = { scalar: 'SCALAR', type: 'OBJECT', interface: 'INTERFACE', union: 'UNION', enum: 'ENUM', input: 'INPUT_OBJECT' }[keyword]!;
    const d: Json = { Kind: kind, Description: description, Name: this.name() };
    let hasBody = false;
    if (kind === 'OBJECT' || kind === 'INTERFACE') {
      const ifaces = this.implementsInterfaces();
      const dirs = this.directives(true);
      const fields = this.some('BraceL', 'BraceR', () => this.fieldDefinition());
      list(d, 'Directives', dirs);
      list(d, 'Interfaces', ifaces);
      list(d, 'Fields', fields);
      hasBody = ifaces.length + dirs.length + fields.length > 0;
    } else if (kind === 'UNION') {
      const dirs = this.directives(true);
      const types: string[] = [];
      if (this.skip('Equals')) {
        this.skip('Pipe');
        types.push(this.name());
        while (this.skip('Pipe')) types.push(this.name());
      }
      list(d, 'Directives', dirs);
      list(d, 'Types', types);
      hasBody = dirs.length + types.length > 0;
    } else if (kind === 'ENUM') {
      const dirs = this.directives(true);
      const values = this.some('BraceL', 'BraceR', () => {
        const desc = this.description();
        const v: Json = { Description: desc.text, Name: this.name() };
        list(v, 'Directives', this.directives(true));
        return v;
      });
      list(d, 'Directives', dirs);
      list(d, 'EnumValues', values);
      hasBody = dirs.length + values.length > 0;
    } else if (kind === 'INPUT_OBJECT') {
      const dirs = this.directives(!extension);
      const fields = this.some('BraceL', 'BraceR', () => this.inputValueDefinition());
      list(d, 'Directives', dirs);
      list(d, 'Fields', fields);
      hasBody = dirs.length + fields.length > 0;
    } else {
      const dirs = this.directives(true);
      list(d, 'Directives', dirs);
      hasBody = dirs.length > 0;
    }
    if (extension && !hasBody) this.unexpected();
    d.BuiltIn = false;
    return d;
  }

  private implementsInterfaces(): string[] {
    const out: string[] = [];
    if (this.tok.kind === 'Name' && this.tok.value === 'implements') {
      this.next();
      this.skip('Amp');
      out.push(this.name());
      while (this.skip('Amp')) out.push(this.name());
    }
    return out;
  }

  private fieldDefinition(): Json {
    const desc = this.description();
    const f: Json = { Description: desc.text, Name: this.name() };
    list(f, 'Arguments', this.argumentDefinitions());
    this.expect('Colon');
    f.Type = this.typeReference();
    list(f, 'Directives', this.directives(true));
    return f;
  }

  private argumentDefinitions(): Json[] {
    return this.some('ParenL', 'ParenR', () => this.inputValueDefinition());
  }

  private inputValueDefinition(): Json {
    const desc = this.description();
    const a: Json = { Description: desc.text, Name: this.name() };
    this.expect('Colon');
    a.Type = this.typeReference();
    if (this.skip('Equals')) a.DefaultValue = this.value(true);
    list(a, 'Directives', this.directives(true));
    return a;
  }

  private directiveDefinition(description: string): Json {
    this.expectKeyword('directive');
    this.expect('At');
    const d: Json = { Description: description, Name: this.name() };
    list(d, 'Arguments', this.argumentDefinitions());
    list(d, 'Directives', this.directives(true));
    d.IsRepeatable = false;
    if (this.tok.kind === 'Name' && this.tok.value === 'repeatable') {
      d.IsRepeatable = true;
      this.next();
    }
    this.expectKeyword('on');
    this.skip('Pipe');
    const locations = [this.directiveLocation()];
    while (this.skip('Pipe')) locations.push(this.directiveLocation());
    d.Locations = locations;
    return d;
  }

  private directiveLocation(): string {
    const t = this.expect('Name');
    if (!DIRECTIVE_LOCATIONS.has(t.value)) this.unexpected(t);
    return t.value;
  }
}

export const DIRECTIVE_LOCATIONS = new Set([
  'QUERY', 'MUTATION', 'SUBSCRIPTION', 'FIELD', 'FRAGMENT_DEFINITION', 'FRAGMENT_SPREAD', 'INLINE_FRAGMENT',
  'VARIABLE_DEFINITION', 'SCHEMA', 'SCALAR', 'OBJECT', 'FIELD_DEFINITION', 'ARGUMENT_DEFINITION', 'INTERFACE',
  'UNION', 'ENUM', 'ENUM_VALUE', 'INPUT_OBJECT', 'INPUT_FIELD_DEFINITION', 'DIRECTIVE_DEFINITION',
]);

export function parseQueryDocument(src: string): Json {
  return new Parser(src).queryDocument();
}

export function parseSchemaDocument(src: string): Json {
  return new Parser(src).schemaDocument();
}
