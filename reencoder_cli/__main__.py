from reencoder_cli.cli import main

main()
