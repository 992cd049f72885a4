from hws.cli.main import main

main()
