"""Write digits01.csv: scikit-learn's digits 0 vs 1 for the review's R experiment.

R cannot load scikit-learn's data, so the table is committed. Run from the
repository root:  python r_compat/inst/extdata/make_digits01.py

Columns: split ("train"/"test", stratified 60/40, random_state=0), label (-1 for
digit 0, +1 for digit 1), x1..x64 (grey level * 255 / 16: multiples of 1/16
in [0, 255], written exactly). The table is robustsk.review.digits01_frame().
"""
from pathlib import Path

from robustsk.review import digits01_frame

if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "digits01.csv"
    digits01_frame().to_csv(out, index=False, float_format="%.4f", lineterminator="\n")
    print(f"wrote {out}")
