from parallel_job_operator.cli import main

main()
