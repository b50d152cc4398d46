"""Rule leakage_comparison: honest and leaky splits side by side, with their difference."""

from pathlib import Path

from auflow.io.parquet import read_table
from auflow.plots import plot_leakage
from auflow.provenance import table_provenance, write_csv
from auflow.report import (
    leakage_markdown,
    leakage_table,
    markdown_html,
    model_colours,
    summary_table,
)
from auflow.workflow import log_to

log_to(snakemake.log[0])
p = snakemake.params
provenance = table_provenance(snakemake.input.provenance)
summary = summary_table(read_table(snakemake.input.per_fold))
pooled = read_table(snakemake.input.pooled)
honest, leaky = (p.compared, p.split) if p.split == "random_frames" else (p.split, p.compared)
comparison = leakage_table(summary, honest, leaky)
write_csv(comparison, snakemake.output.csv, provenance)
markdown = leakage_markdown(comparison, honest, leaky, provenance)
Path(snakemake.output.markdown).write_text(markdown)
Path(snakemake.output.html).write_text(markdown_html(markdown, "auflow leakage comparison"))
colours = model_colours(pooled["classifier"])
plot_leakage(pooled, honest, leaky, colours, snakemake.output.plot, provenance)
