"""BENCHMARKS.md: one section per part, each stamped with the command, date,
revision and machine that produced it. A run rewrites the sections of the
parts it ran and keeps the others as they were; the goals list at the top is
gathered from every section's `- Goal` lines."""

import os
import re
import subprocess
import time

from .bounds import BOUNDS
from .toolchain import ROOT, git_revision

PATH = ROOT / "BENCHMARKS.md"
BOUND = "  bound: (to be filled by profiling)"


def machine():
    uname = subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    return f"{uname}, {os.cpu_count()} cores, load average {load:.1f} at the start"


def stamp(command, note=""):
    """The line under each section's title that says where its numbers come from."""
    return (f"_`{command}` on {time.strftime('%Y-%m-%d %H:%M')} (revision {git_revision()}; "
            f"{machine()}){note}._")


def goal(text, value, met, ratio):
    """A goal line; a goal not met gets the line that says what bounds it (bounds.py)."""
    line = f"- Goal — {text}: {value} — **{'met' if met else 'not met'}** ({ratio})."
    if met:
        return line
    for start, why in BOUNDS.items():
        if text.startswith(start):
            return line + "\n  bound: " + why
    return line + "\n" + BOUND


def ms(value):
    return "n/a" if value is None or value != value else f"{value:.3f}"


def table(header, rows):
    def numeric(cell):
        return str(cell).split(" ")[0].rstrip("×%").replace(".", "", 1).replace(",", "").lstrip("-").isdigit()

    align = ["---:" if rows and all(numeric(row[i]) for row in rows) else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write(parts, sections):
    """Merges the new `sections` ({part: markdown}) into BENCHMARKS.md, in `parts` order."""
    old = PATH.read_text() if PATH.exists() else ""
    kept = dict(re.findall(r"<!-- bench:(\w+) -->\n(.*?)\n<!-- /bench:\1 -->", old, re.S))
    kept.update(sections)
    body = []
    for name, title in parts:
        text = kept.get(name) or f"## {title}\n\nNot run yet: `scripts/bench {name}`."
        body.append(f"<!-- bench:{name} -->\n{text.strip()}\n<!-- /bench:{name} -->")
    goals = []
    for name, title in parts:
        for line in (kept.get(name) or "").splitlines():
            if line.startswith("- Goal — "):
                goals.append(f"- [{name}] " + line[len("- Goal — "):])
    head = [
        "# Kumo's benchmarks",
        "",
        "Produced by `scripts/bench` (`scripts/bench --help` lists the parts; `scripts/bench PART…` runs some,",
        "`--quick` makes a short smoke run). Everything runs on this one machine over loopback, the load",
        "generator (wrk, or Python for single timed requests) included, and every load is bounded in time.",
        "Each section says the command, date and revision its numbers come from; numbers in one section",
        "come from one run, side by side. Goals not met carry a `bound:` line for the profiling to fill.",
        "",
        "## Goals",
        "",
        *(goals or ["No goal measured yet."]),
        "",
    ]
    PATH.write_text("\n".join(head) + "\n" + "\n\n".join(body) + "\n")
