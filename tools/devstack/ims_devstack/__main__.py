"""``python -m ims_devstack`` (what ``make run`` runs) is the same launcher as the ``ims-devstack`` console script."""

from ims_devstack import main

main()
