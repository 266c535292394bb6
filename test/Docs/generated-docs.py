# The references in docs/generated are the ones this build generates from ODS
# (the build writes them into its own tree only).
# RUN: %python %s %gs_src_root/docs/generated %gs_obj_root/docs/GS

import filecmp
import sys
from pathlib import Path

checked_in, generated = map(Path, sys.argv[1:])
names = sorted(p.name for p in generated.glob("*.md"))
assert names, f"{generated} has no generated docs"
stale = [name for name in names
         if not (checked_in / name).is_file()
         or not filecmp.cmp(checked_in / name, generated / name, shallow=False)]
extra = sorted(p.name for p in checked_in.glob("*.md") if p.name not in names)
if stale or extra:
    sys.exit(f"docs/generated is out of date (differ: {stale}, not generated: "
             f"{extra}); refresh it with `ninja -C <build> gs-docs-update`")
