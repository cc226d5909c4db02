"""``python -m ims_shared.imsctl`` runs the same command line as the ``imsctl`` console script."""

from ims_shared.imsctl.main import app

if __name__ == "__main__":
    app(prog_name="imsctl")
