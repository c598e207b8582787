"""docs/orchestrators.md's code that can run here, run: Dagster's definitions, loaded by
dagster-meltano from this repository's Meltano project. (Airflow's utility comes from the
Meltano Hub and Kestra is a server of its own: the page says they are not run here.)"""

from __future__ import annotations

import json
import os
import re
import subprocess

from tests.helpers import ROOT
from tests.pipelines import MELTANO, meltano, meltano_env

DAGSTER_PYTHON = ROOT / ".venv-dagster" / "bin" / "python"
"""dagster-meltano and the Dagster it pins (the Makefile installs them)."""
PROJECT_FOLDER = '"/opt/meltano"'


def dagster_code() -> str:
    """The Python block of docs/orchestrators.md that loads the Meltano project."""
    page = (ROOT / "docs" / "orchestrators.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)]
    (code,) = [b for b in blocks if "load_jobs_from_meltano_project" in b]
    return code


def test_the_dagster_definitions_name_the_projects_job_and_schedule(tmp_path) -> None:
    code = dagster_code()
    assert PROJECT_FOLDER in code
    env = {
        **meltano_env(tmp_path / "meltano.db"),
        "PATH": f"{MELTANO.parent}{os.pathsep}{os.environ['PATH']}",
    }
    # The project's system database exists before Dagster asks two questions at once.
    assert meltano("job", "list", env=env).returncode == 0
    check = (
        code.replace(PROJECT_FOLDER, repr(str(ROOT)))
        + """
import json
job = defs.get_job_def("hubspot_associations_to_postgres")
schedule = defs.get_schedule_def("daily_hubspot_associations_to_postgres")
print(json.dumps([job.name, schedule.job_name, schedule.cron_schedule]))
"""
    )
    result = subprocess.run(
        [str(DAGSTER_PYTHON), "-c", check],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    job, scheduled_job, cron = json.loads(result.stdout.strip().splitlines()[-1])
    assert (job, scheduled_job) == ("hubspot_associations_to_postgres",) * 2
    assert cron == "0 0 * * *", "Meltano's @daily"
