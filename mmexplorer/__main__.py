from mmexplorer.cli import main

raise SystemExit(main())
