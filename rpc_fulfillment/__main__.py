from rpc_fulfillment.cli import main

raise SystemExit(main())
