"""Results of gpu-check: the log, results.json and results.md."""

from __future__ import annotations

import contextlib
import json
import os
import time
import traceback
from pathlib import Path


class Report:
    """Collects records and writes results.json / results.md after each
    section, so a run cut short still leaves what it measured."""

    def __init__(self, out: Path, budget: float, dry_run: bool):
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.start = time.monotonic()
        self.budget = budget
        self.dry_run = dry_run
        self.records: list = []
        self.info: dict = {}
        self.speed: list = []
        self.log_file = open(out / "gpu-check.log", "w")

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.budget - self.elapsed()

    def log(self, message: str) -> None:
        line = f"[{self.elapsed():6.1f}s] {message}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def record(self, section: str, case: str, status: str, detail: str = "",
               **metrics) -> None:
        self.records.append(dict(section=section, case=case, status=status,
                                 detail=detail, **metrics))
        if status != "pass":
            self.log(f"{status.upper()}: {section}: {case}: {detail}")
        self.write()  # a run killed at its time limit keeps what it measured

    @contextlib.contextmanager
    def section(self, name: str):
        self.log(f"== {name}")
        begin = time.monotonic()
        try:
            yield
        except Exception as error:  # keep going: the next section still runs
            self.record(name, "(section)", "error", f"{type(error).__name__}: {error}",
                        traceback=traceback.format_exc())
        finally:
            self.info.setdefault("section_seconds", {})[name] = round(
                time.monotonic() - begin, 1)
            self.write()

    def counts(self) -> dict:
        counts: dict = {}
        for r in self.records:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        return counts

    def write(self) -> None:
        data = dict(info=self.info, counts=self.counts(), speed=self.speed,
                    records=self.records, elapsed_s=round(self.elapsed(), 1))
        # Whole files only (a run killed mid-write keeps the previous ones).
        for name, text in (("results.json", json.dumps(data, indent=1, default=str)),
                           ("results.md", self.markdown())):
            partial = self.out / (name + ".partial")
            partial.write_text(text)
            os.replace(partial, self.out / name)

    def markdown(self) -> str:
        info = self.info
        lines = ["# gpu-check results", ""]
        for key in ("date", "mode", "device", "devices", "capability", "kernel_image",
                    "torch", "cuda", "python", "cpu_kernels_isa", "gpu_kernels_lib",
                    "cpu_kernels_lib"):
            if key in info:
                lines.append(f"- {key}: {info[key]}")
        lines.append(f"- elapsed: {self.elapsed():.0f} s of a {self.budget:.0f} s budget")
        lines.append(f"- counts: {self.counts()}")
        lines += ["", "## Sections", "", "| section | pass | fail | error | skip | s |",
                  "|---|---|---|---|---|---|"]
        sections: dict = {}
        for r in self.records:
            entry = sections.setdefault(r["section"], dict(pass_=0, fail=0, error=0, skip=0))
            key = "pass_" if r["status"] == "pass" else r["status"]
            entry[key] = entry.get(key, 0) + 1
        for name, c in sections.items():
            seconds = info.get("section_seconds", {}).get(name, "")
            lines.append(f"| {name} | {c['pass_']} | {c['fail']} | {c['error']} | "
                         f"{c['skip']} | {seconds} |")
        bad = [r for r in self.records if r["status"] in ("fail", "error")]
        if bad:
            lines += ["", "## Failures and errors", ""]
            for r in bad:
                lines.append(f"- **{r['status']}** {r['section']} / {r['case']}: "
                             f"{r['detail']}")
        skipped = [r for r in self.records if r["status"] == "skip"]
        if skipped:
            lines += ["", "## Skipped", ""]
            lines += [f"- {r['section']} / {r['case']}: {r['detail']}" for r in skipped]
        if self.speed:
            lines += ["", "## Speed (median of timed steps after warm-up)", "",
                      "| model | method | median ms | min ms | GB/s at 32 B/param | "
                      "% of copy | ours is x faster | note |",
                      "|---|---|---|---|---|---|---|---|"]
            for s in self.speed:
                lines.append(
                    f"| {s['model']} | {s['method']} | {s.get('median_ms', '')} | "
                    f"{s.get('min_ms', '')} | {s.get('gb_per_s', '')} | "
                    f"{s.get('pct_of_copy', '')} | {s.get('speedup_of_ours', '')} | "
                    f"{s.get('note', '')} |")
        targets = info.get("targets")
        if targets:
            lines += ["", "## Targets (issue 14)", ""]
            if info.get("targets_note"):
                lines += [info["targets_note"], ""]
            lines += ["| target | value | met |", "|---|---|---|"]
            lines += [f"| {t['target']} | {t['value']} | {t['met']} |" for t in targets]
        lines += ["", "## Passing checks (worst error / bound)", ""]
        for r in self.records:
            if r["status"] == "pass":
                extra = ", ".join(f"{k}={v}" for k, v in r.items()
                                  if k not in ("section", "case", "status", "detail",
                                               "traceback"))
                lines.append(f"- {r['section']} / {r['case']}"
                             + (f": {r['detail']}" if r["detail"] else "")
                             + (f" ({extra})" if extra else ""))
        return "\n".join(lines) + "\n"
