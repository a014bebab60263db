// How numbers, ages and names read on the page.

// One format for every number: integers (d, q, steps, evaluations) in full with thousands
// separators (169,196 beside 1,400); other values with `digits` significant digits, and in
// exponent notation only when very large or very small.
export function fmt(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  if (Number.isSafeInteger(x)) return x.toLocaleString("en-US");
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(2);
  return x.toLocaleString("en-US", { maximumSignificantDigits: digits });
}

// 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 1,024th
export function ordinal(n) {
  const teen = Math.floor(n / 10) % 10 === 1;
  const suffix = teen ? "th" : ["th", "st", "nd", "rd"][n % 10] || "th";
  return fmt(n) + suffix;
}

export function age(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} m ${Math.round(seconds % 60)} s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} m`;
  return `${Math.floor(seconds / 86400)} d`;
}

// What a name looks like: NFKC-folded, without what draws nothing (format characters such as
// joiners and direction marks, combining marks, spaces, the blank fillers), and with the letters
// of other scripts that draw like Latin ones read as those (a part of Unicode's confusables,
// UTS #39: Cyrillic, Greek, Armenian).  Names that look alike ("adm\u200din", "\u0430dmin",
// "admin") read apart by their ids; a name that draws nothing reads as its id.
const UNSEEN = /[\p{Cf}\p{Mn}\p{Me}\p{Z}\s\u115f\u1160\u3164\uffa0\u2800\u180e]/gu;
const LATIN_LOOKALIKES = {
  a: "аɑα", b: "Ь", c: "сϲ", d: "ԁ", e: "еҽ", g: "ɡ", h: "һ", i: "іι", j: "ј", k: "κ", l: "ӏ", n: "ո",
  o: "оοօ", p: "рρ", q: "ԛ", r: "г", s: "ѕ", u: "υս", v: "νѵ", w: "ԝѡ", x: "хχ", y: "уγ",
  A: "АΑ", B: "ВΒ", C: "СϹ", E: "ЕΕ", H: "НΗ", I: "ІΙӀ", J: "Ј", K: "КΚ", M: "МΜ", N: "Ν", O: "ОΟՕ",
  P: "РΡ", S: "ЅՏ", T: "ТΤ", X: "ХΧ", Y: "ҮΥ", Z: "Ζ",
};
const LATIN_OF = new Map(Object.entries(LATIN_LOOKALIKES).flatMap(([latin, others]) =>
  [...others].map((other) => [other, latin])));
const LOOKALIKE = new RegExp(`[${[...LATIN_OF.keys()].join("")}]`, "gu");
const drawn = (name) => (name ?? "").normalize("NFKC").replace(UNSEEN, "");
export const looks = (name) => drawn(name).replace(LOOKALIKE, (letter) => LATIN_OF.get(letter));

// A name that may pass for another's even when no ticked name looks like it: Latin letters beside
// those of a script that draws some alike (one letter the table above misses would do), or a
// part shaped like the start of an id in parentheses, as legends add it ("run (0123abcd)").
const LATIN = /\p{Script=Latin}/u;
const LATIN_LIKE = /[\p{Script=Cyrillic}\p{Script=Greek}\p{Script=Armenian}\p{Script=Cherokee}]/u;
const ID_SHAPED = /\(\s*[0-9a-f]{8}\s*\)/iu;
export const mimics = (name) => {
  const seen = drawn(name);
  return (LATIN.test(seen) && LATIN_LIKE.test(seen)) || ID_SHAPED.test(looks(name));
};

// A session's name, or the start of its id when it has none (or one that draws nothing).
export const label = (row) => (looks(row.name) ? row.name : row.id.slice(0, 8));

// The label in a line of other text: isolated (U+2068 ... U+2069), so that a direction override
// in a name cannot reorder the text after it (the method and set beside it in a legend).
export const isolated = (row) => `\u2068${label(row)}\u2069`;

// The label with the start of the id after a name, as the table shows them side by side: what
// tells apart sessions of one name (a worker names its session after its objective's URL).
export const identified = (row) => (looks(row.name) ? `${isolated(row)} (${row.id.slice(0, 8)})` : label(row));

// Keys of a metric report that are not named metrics.
export const RESERVED = ["step", "lr", "mu", "time"];

// A metric that is an accuracy: "acc" or "accuracy" as a word of its name (test_acc, top1_accuracy, valAcc),
// not any name holding the letters (grad_accum_total, acceptance_rate), which have scales of their own.
export const isAccuracy = (name) =>
  /(^|[^a-z])acc(uracy)?([^a-z]|$)/i.test(name) || /[a-z0-9]Acc(uracy)?([^a-z]|$)/.test(name); // valAcc

export const metricLabel = (name) => (name === "value" ? "value (validation loss)" : name);

// Labels made distinct: a label met before gets " (2)", " (3)", ...: a metric a client named
// "value (validation loss)" reads apart from the validation loss.
export function distinct(labels) {
  const seen = new Set();
  return labels.map((text) => {
    let unique = text;
    for (let n = 2; seen.has(unique); n++) unique = `${text} (${n})`;
    seen.add(unique);
    return unique;
  });
}

// The metrics a chart draws: the first MAX_METRICS names reported (in the order reported), so
// that a session whose clients sent thousands of names keeps a page that answers; ``more``
// counts the rest.
export const MAX_METRICS = 64;
export function metricNames(metrics) {
  const names = new Set();
  for (const m of metrics) for (const k of Object.keys(m)) if (!RESERVED.includes(k)) names.add(k);
  const all = [...names];
  return { names: all.slice(0, MAX_METRICS), more: Math.max(0, all.length - MAX_METRICS) };
}

// The value of metric `name` in report `m`, or null: own keys only, so that a metric named
// "constructor" or "toString" is read as sent.
export const metricOf = (m, name) => (Object.hasOwn(m, name) ? m[name] : null);

// A report in one line: its value, and an accuracy when one was reported.
export function metricText(m) {
  if (!m) return "—";
  const acc = Object.keys(m).find((k) => !RESERVED.includes(k) && k !== "value" && isAccuracy(k));
  return fmt(m.value) + (acc ? ` · ${acc} ${fmt(m[acc], 3)}` : ""); // the name as sent
}

// A session's feasible set X in a few words ("" for none): "box [-1, 1]", "ℓ2 ball r = 0.5
// around 0", both joined by "∩"; a bound given per coordinate reads "d-vector" (the dashboard's
// answers leave its values out), and a side without a bound, which the service holds as
// float32's end, reads "∞". Bounds, centers and radii read to float32's precision, not as fmt
// rounds them: two sets that differ read differently (box [0.99999005, 1.0000099], which is
// what [0.99999, 1.00001] rounds inward to, not box [1, 1]), and without thousands separators,
// whose commas would read as the list's (box [1000, 2000]).
const FLOAT32_MAX = 3.4028234663852886e38;

// The shortest decimal (9 significant digits at most) that reads back as float32 v, as the
// service holds it: 0.99999005, 123456.79 (123456.7890625), 12345.6; exponent notation only
// from 1e21 or below 1e-6, as JavaScript writes numbers.
export function float32Text(v) {
  const f = Math.fround(v);
  if (!Number.isFinite(f)) return String(f);
  for (let p = 1; ; p++) { // 9 digits always do
    const s = parseFloat(f.toPrecision(p));
    if (p === 9 || Math.fround(s) === f) return String(s);
  }
}

export function setText(constraint, dim) {
  if (!constraint) return "";
  const bound = (v) => (Math.abs(v) >= FLOAT32_MAX ? (v < 0 ? "−∞" : "∞") : float32Text(v));
  const value = (v) => (v === undefined || Array.isArray(v) ? `${dim}-vector` : bound(v));
  const parts = [];
  if (constraint.box) parts.push(`box [${value(constraint.box.lower)}, ${value(constraint.box.upper)}]`);
  if (constraint.ball) {
    const { norm, center, radius } = constraint.ball;
    // the radius is held as the float64 it was given: its shortest decimal, not float32's
    parts.push(`ℓ${norm === "inf" ? "∞" : "2"} ball r = ${String(radius)} around ${value(center)}`);
  }
  return parts.join(" ∩ ");
}

// A session's method with its X, for titles and legends: "zo-sgd in box [0, 1]", and
// "central" as the table says it when a ZO session takes central differences: "zo-sgd, central
// in box [0, 1]".
export function methodText(row) {
  const set = setText(row.constraint, row.dim);
  const central = row.takes_values && row.difference === "central";
  return row.method + (central ? ", central" : "") + (set ? ` in ${set}` : "");
}
