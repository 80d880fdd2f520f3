from ticklake.cli import main

main()
