"""Rule plot_data: the labelled data per subject, and the Gabor responses per subject."""

from auflow.io.dataset import concat_tables
from auflow.io.parquet import read_table
from auflow.plots import gabor_columns, plot_data_overview, plot_gabor_responses
from auflow.provenance import table_provenance
from auflow.workflow import log_to

log_to(snakemake.log[0])
p = snakemake.params
provenance = table_provenance(snakemake.input.provenance)
labels = concat_tables(snakemake.input.labels)
plot_data_overview(labels, p.aus, p.occurrence_threshold, snakemake.output.overview, provenance)
if snakemake.output.get("gabor"):
    import pyarrow.parquet as pq

    # Only the columns the plot reads: a DISFA-sized dataset holds hundreds of features.
    names = pq.read_schema(snakemake.input.dataset).names
    dataset = read_table(snakemake.input.dataset, ["subject", *gabor_columns(p.gabor, names)])
    plot_gabor_responses(dataset, p.gabor, snakemake.output.gabor, provenance)
