"""codecurate: optimize training data for code LLMs and prove what the optimization did.

Python API (mirrors the CLI):

    import codecurate as cc

    if __name__ == "__main__":  # the worker pool imports the script in its processes
        records = list(cc.read_records("data.jsonl"))          # any supported format, auto-detected
        recipe = cc.Recipe.from_yaml("package://recipes/quickstart.yaml")  # or cc.Recipe.from_dict({...})
        run = cc.run_recipe(recipe, output="runs/demo", workers=2)
        for rec in run.records():                               # the curated records
            ...
"""

from codecurate.io import read_records, write_records  # noqa: F401
from codecurate.records import make_record  # noqa: F401

__version__ = "0.1.0"


def __getattr__(name):  # lazy: the pipeline pulls in pyarrow, which `import codecurate` should not pay for
    if name in ("Recipe", "run_recipe", "RunResult"):
        from codecurate.pipeline import recipe, runner

        return {"Recipe": recipe.Recipe, "run_recipe": runner.run_recipe, "RunResult": runner.RunResult}[name]
    raise AttributeError(name)
