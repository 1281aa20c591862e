"""Dataset importers, one module per kind: each lists its items (file, label, split hint) and the
files it leaves out, and names its default crop mode and license note; common.run_import does the rest."""
from curation.importers import fer2013, folders, jaffe, unlabeled

KINDS = {"fer2013": fer2013, "folders": folders, "jaffe": jaffe, "unlabeled": unlabeled}
