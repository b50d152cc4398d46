"""Rule labels: one subject's labels keyed by (subject, frame)."""

from auflow.io.discovery import read_manifest
from auflow.io.labels import read_subject_labels
from auflow.io.parquet import write_table
from auflow.workflow import log_to

log_to(snakemake.log[0])
fmt = snakemake.params.label_format
source = snakemake.input.labels[0] if fmt == "json" else snakemake.params.labels_dir
images = [path for _, path in read_manifest(snakemake.input.frames)]
labels = read_subject_labels(
    snakemake.wildcards.subject,
    fmt,
    source,
    images,
    snakemake.params.aus,
    missing_au=snakemake.params.missing_au,
    strict_frames=snakemake.params.strict_frames,
)
# recorded once, in the auflow metadata (pandas would also keep attrs in its own)
metadata = {"label_format": fmt, "source": str(source), **labels.attrs.pop("auflow", {})}
write_table(labels, snakemake.output.labels, metadata)
