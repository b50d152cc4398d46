"""Rule provenance: the configuration, code, packages and data of this run, computed once."""

import json
from pathlib import Path

from auflow.io.parquet import read_table
from auflow.layout import parse_labels_table
from auflow.provenance import build_provenance
from auflow.workflow import log_to

log_to(snakemake.log[0])
labels = [read_table(path) for path in snakemake.input.labels]
# the cross datasets' labels tables, by cross dataset
cross = {}
for path in snakemake.input.get("cross_labels", []):
    cross.setdefault(parse_labels_table(path).cross, []).append(read_table(path))
# The workflow's own folder, for its git commit (none when it is not a git checkout).
provenance = build_provenance(snakemake.config, labels, snakemake.scriptdir, cross)
Path(snakemake.output.provenance).write_text(
    json.dumps(provenance, indent=2, sort_keys=True) + "\n"
)
