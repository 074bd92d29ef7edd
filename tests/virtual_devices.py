"""XLA_FLAGS for tests that split this machine's CPU into two virtual JAX devices.

The two devices share the CI machine's 2 cores with the other pytest worker. XLA aborts the process when one
device reaches a collective (all-reduce) 40 s before the other, a default meant for hung GPUs; on a loaded CI
machine that happened once (rendezvous.cc "Termination timeout ... Expected 2 threads to join the
rendezvous"), so these tests give the rendezvous longer than any test's own timeout.
"""

TWO_CPU_DEVICES = (
    "--xla_force_host_platform_device_count=2"
    " --xla_cpu_collective_call_warn_stuck_timeout_seconds=120"
    " --xla_cpu_collective_call_terminate_timeout_seconds=540"
    " --xla_cpu_collective_timeout_seconds=540"
)
