import subprocess
import sys

import causalclf.evaluation as evaluation

PUBLIC = """classification_metrics format_metrics mcnemar paired_bootstrap holm summarize_seeds
compare_over_seeds expected_calibration_error brier_score reliability_diagram temperature_scale
tune_thresholds save_run load_run write_report""".split()


def test_every_public_name_resolves():
    for name in PUBLIC:
        assert callable(getattr(evaluation, name)), name
    assert set(PUBLIC) <= set(evaluation.__all__)


def test_import_stays_light():
    code = (
        "import sys, causalclf.evaluation, causalclf.evaluation.thresholds; "
        "heavy = [m for m in ('matplotlib', 'sklearn', 'statsmodels', 'torch') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
