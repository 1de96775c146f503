#!/usr/bin/env python3
"""Lines of src/ (non-spec .ts, as `wc -l` counts them) at a base commit and at a
target, split into the areas that existed at the base and the code other issues
added, and the net change of each area attributed to the issue whose commit made it.

    scripts/line-count.py [--base 68ed1c8] [--target HEAD]

How attribution works: the first-parent history from base to target is walked;
each first-parent commit's own diff (a merge against its first parent, so a
whole merged branch at once) is credited to one issue by the table below
(merged branch name, or commit), with per-path exceptions for branches that
carried two issues. The per-file sums of those diffs equal target minus base
exactly, so the table adds up; anything the table does not know is reported as
"unattributed". A file that existed at the base (or is a pure rename of one)
is "pre-existing"; any other file is "added".
"""
from __future__ import annotations

import argparse
import re
import subprocess
from collections import defaultdict

# Merged branches (first-parent merges) and the issue each carried.
BRANCHES = {
    "wt-token": "#12",
    "wt-bundle": "#12",
    "wt-guard": "#12",
    "wt-regex": "#12",  # RE2 for every host regex (#12); its JSON Schema part is #13, see PATHS
    "wt-libs": "#13",
    "wt-parity": "#14",
    "wt-python": "#18",
    "wt-simplify": "#13",
    "wt-guardpkg": "#13",
    "wt-pg": "#17",
    "wt-gateway": "#18",
    "wt-replay": "#15",
    "wt-workers": "#16",
    "wt-console": "#20",
    "wt-privileges": "#19",
    "wt-decision": "#16",
    "wt-bench": "#16",
    "tg-simplify": "#13",
    "tg-console-api": "#20",
    "tg-console-ui": "#20",
    "tg-privileges": "#19",
    "tg-cpu": "#16",
    "tg-fix-console": "#20",  # review fixes of the console API
    "tg-fix-guard": "#18",  # review fixes: guard auth on no decision, prototype keys in builtins
}
# Commits made on the main line itself (not through a merged branch), by hash prefix.
COMMITS = {
    "ba7a5de": "#13",  # CLI on commander
    "0c75f44": "#13",  # jest compiles src/ first
    "f02b746": "#14",  # sprintf.ts comment, measured by the parity fixture
    "b837b54": "#13",  # one copy of bearer/RFC 9728 helpers and of the version
    "251bc20": "#13",  # http bench: alternating rounds (the #13 benchmark rule)
    "bc8636a": "#18",  # demo-token --ttl for the Python suite
    "7fd91b7": "#16",  # workers review fixes
    "337ae1f": "#16",  # cluster primary EPIPE
    "fd678d8": "#13",  # one batching sink for the HTTP and PostgreSQL sinks
}
# (branch or commit, path pattern) → issue, where one merge carried two issues.
PATHS = [
    ("wt-regex", re.compile(r"^src/evaluator/builtins/json-schema"), "#13"),
]
# Commits on the main line after the last listed merge, unless listed in COMMITS.
DEFAULT_LOCAL = "unattributed"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def counted(path: str) -> bool:
    return path.startswith("src/") and path.endswith(".ts") and not path.endswith(".spec.ts")


def lines_at(rev: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for path in git("ls-tree", "-r", "--name-only", rev, "--", "src").splitlines():
        if counted(path):
            out[path] = git("show", f"{rev}:{path}").count("\n")
    return out


def area(path: str) -> str:
    parts = path.split("/")
    if len(parts) == 2:
        return "src (top-level files)"
    if parts[1] == "evaluator" and len(parts) > 3:
        return "src/evaluator/builtins"
    return "/".join(parts[:2])


def issue_of(commit: str, parents: list[str], subject: str, path: str, merged_after: bool) -> str:
    branch = None
    if len(parents) > 1:
        m = re.search(r"Merge (?:branch ')?((?:wt|tg)-[\w-]+)", subject)
        branch = m.group(1) if m else None
    for key, pattern, issue in PATHS:
        if key in (branch, commit[:7]) and pattern.search(path):
            return issue
    if branch:
        return BRANCHES.get(branch, f"unattributed ({branch})")
    if commit[:7] in COMMITS:
        return COMMITS[commit[:7]]
    return DEFAULT_LOCAL if not merged_after else f"unattributed ({commit[:7]})"


def renamed_path(raw: str) -> str:
    """numstat's `a/{b => c}/d` or `b => c` as the new path."""
    m = re.match(r"^(.*)\{(.*) => (.*)\}(.*)$", raw)
    if m:
        return re.sub("//+", "/", m.group(1) + m.group(3) + m.group(4))
    return raw.split(" => ")[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="68ed1c8")
    ap.add_argument("--target", default="HEAD")
    a = ap.parse_args()

    base = lines_at(a.base)
    target = lines_at(a.target)
    renames = {}
    for row in git("diff", "-M", "--name-status", a.base, a.target, "--", "src").splitlines():
        f = row.split("\t")
        if f[0].startswith("R"):
            renames[f[2]] = f[1]
    pre = lambda p: p in base or p in renames  # noqa: E731
    # A file moved as a whole counts in the area it moved to, at the base too (a move is no change).
    moved_to = {old: new for new, old in renames.items()}
    base_area = lambda p: area(moved_to.get(p, p))  # noqa: E731

    # net[(issue, area, pre-existing?)] = added - deleted
    net: dict[tuple[str, str, bool], int] = defaultdict(int)
    history = [l.split("\x00") for l in git("log", "--first-parent", "--format=%H%x00%P%x00%s", f"{a.base}..{a.target}").splitlines()]
    last_merge = next((i for i, (_, p, _) in enumerate(history) if len(p.split()) > 1), len(history))
    for i, (commit, parents, subject) in enumerate(history):
        plist = parents.split()
        for row in git("diff", "-M", "--numstat", plist[0], commit, "--", "src").splitlines():
            add, dele, raw = row.split("\t")
            path = renamed_path(raw)
            if add == "-" or not (counted(path) or counted(raw.split(" => ")[0])):
                continue
            key = issue_of(commit, plist, subject, path, merged_after=i > last_merge)
            net[(key, area(path), pre(path))] += int(add) - int(dele)

    total_base, total_now = sum(base.values()), sum(target.values())
    print(f"src/ non-spec .ts lines: {a.base} {total_base:,} → {a.target} {total_now:,} ({total_now - total_base:+,})\n")

    areas = sorted({base_area(p) for p in base} | {area(p) for p in target})
    issues = sorted({k[0] for k in net}, key=lambda s: (not s.startswith("#"), s))

    print("(i) Files that existed at the base: lines then → now, and each issue's net change to them")
    for new, old in sorted(renames.items()):
        print(f"    moved: {old} → {new} (counted in {area(new)} at both ends)")
    print(f"{'area':28} {'base':>6} {'now':>6} {'net':>6}  by issue")
    def by_issue(ar: str, existed: bool, sums: dict[str, int]) -> str:
        """Each issue's net change to one area's pre-existing (or added) files, added into sums."""
        parts = []
        for iss in issues:
            d = net.get((iss, ar, existed), 0)
            if d:
                parts.append(f"{iss} {d:+}")
                sums[iss] += d
        return ", ".join(parts)

    def totals(sums: dict[str, int]) -> str:
        return ", ".join(f"{k} {v:+}" for k, v in sorted(sums.items()))

    sums: dict[str, int] = defaultdict(int)
    for ar in areas:
        b = sum(n for p, n in base.items() if base_area(p) == ar)
        now = sum(n for p, n in target.items() if area(p) == ar and pre(p))
        if b or now:
            print(f"{ar:28} {b:>6} {now:>6} {now - b:>+6}  {by_issue(ar, True, sums)}")
    pre_now = sum(n for p, n in target.items() if pre(p))
    print(f"{'total':28} {total_base:>6} {pre_now:>6} {pre_now - total_base:>+6}  {totals(sums)}\n")

    print("(ii) Files added since the base, by area and by the issue that added them (net lines now)")
    print(f"{'area':28} {'lines':>6}  by issue")
    added_sums: dict[str, int] = defaultdict(int)
    for ar in areas:
        now = sum(n for p, n in target.items() if area(p) == ar and not pre(p))
        if now:
            print(f"{ar:28} {now:>6}  {by_issue(ar, False, added_sums)}")
    print(f"{'total':28} {sum(added_sums.values()):>6}  {totals(added_sums)}\n")

    print("Net per issue over all of src/ (pre-existing + added files)")
    for iss in issues:
        p, n = sums.get(iss, 0), added_sums.get(iss, 0)
        print(f"  {iss:24} {p + n:>+7}  (pre-existing {p:+}, added files {n:+})")


if __name__ == "__main__":
    main()
