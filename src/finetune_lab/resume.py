from .cli import resume_main

resume_main()
