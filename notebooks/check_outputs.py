#!/usr/bin/env python3
"""Fail when an executed notebook shows any cell error.

nbconvert fails only on compile errors with the evcxr kernel: a `?` error or a panic merely
prints to stderr and the cell still counts as completed. So this scans every output of every
cell: `error` outputs, any `stderr` stream (but `progress: ` lines), and tell-tale text in stdout (`panicked at`,
`Error:`). It also checks that each notebook produced rich output (HTML and, where expected,
inline SVG), so a notebook that silently displayed nothing fails too.

usage: check_outputs.py EXECUTED.ipynb [--expect-svg] [--expect-html]
"""
import json
import sys

BAD_STDOUT = ("panicked at", "Error:", "error[E")


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = {a for a in sys.argv[1:] if a.startswith("--")}
    failures = []
    seen_html = seen_svg = False
    for path in args:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
        for i, cell in enumerate(nb.get("cells", [])):
            if cell.get("cell_type") != "code":
                continue
            src = "".join(cell.get("source", ""))
            first = src.strip().splitlines()[0] if src.strip() else ""
            for out in cell.get("outputs", []):
                kind = out.get("output_type")
                if kind == "error":
                    failures.append(f"{path}: cell {i} ({first}): {out.get('ename')}: {out.get('evalue')}")
                elif kind == "stream":
                    text = "".join(out.get("text", ""))
                    # Progress lines (`progress: ...`, printed off a terminal) are expected.
                    errs = [l for l in text.splitlines() if l.strip() and not l.startswith("progress: ")]
                    if out.get("name") == "stderr" and errs:
                        text = "\n".join(errs)
                        failures.append(f"{path}: cell {i} ({first}) wrote to stderr:\n{text[:2000]}")
                    elif any(b in text for b in BAD_STDOUT):
                        failures.append(f"{path}: cell {i} ({first}) printed an error:\n{text[:2000]}")
                elif kind in ("display_data", "execute_result"):
                    data = out.get("data", {})
                    html = "".join(data.get("text/html", ""))
                    seen_html |= bool(html)
                    seen_svg |= "<svg" in html or "image/svg+xml" in data
                    if "mllmu: cannot display" in html:
                        failures.append(f"{path}: cell {i} ({first}) displayed an error: {html[:500]}")
    if "--expect-html" in flags and not seen_html:
        failures.append("no HTML output found")
    if "--expect-svg" in flags and not seen_svg:
        failures.append("no inline SVG figure found")
    for f in failures:
        print("notebook check failed:", f, file=sys.stderr)
    if not failures:
        print(f"notebook check: {len(args)} notebook(s) clean")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
