"""``python -m imsctl`` runs the same command line as the ``imsctl`` console script."""

from imsctl.main import app

if __name__ == "__main__":
    app(prog_name="imsctl")
