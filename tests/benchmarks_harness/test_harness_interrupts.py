from pathlib import Path

from harness.interrupts import parse_interrupts, wakeups

# the head and rows of a 2-CPU /proc/interrupts, as Linux 6.x prints them
TEXT = """\
           CPU0       CPU1
  1:          9          0   IO-APIC   1-edge      i8042
NMI:          0          0   Non-maskable interrupts
LOC:    7453762    9177806   Local timer interrupts
RES:    4588576     717417   Rescheduling interrupts
CAL:   46485821    4603072   Function call interrupts
TLB:      62450      54779   TLB shootdowns
"""


def test_the_wake_up_rows_of_one_cpu_are_summed() -> None:
    assert parse_interrupts(TEXT, 0) == 4588576 + 46485821
    assert parse_interrupts(TEXT, 1) == 717417 + 4603072


def test_a_missing_cpu_or_row_or_a_short_row_is_unknown() -> None:
    assert parse_interrupts(TEXT, 2) == -1
    assert parse_interrupts(TEXT.replace("CAL:", "XXX:"), 0) == -1
    assert parse_interrupts(TEXT.replace("   4603072", ""), 1) == -1
    assert parse_interrupts("", 0) == -1


def test_an_unreadable_file_is_unknown(tmp_path: Path) -> None:
    assert wakeups(0, tmp_path / "absent") == -1
    (tmp_path / "interrupts").write_text(TEXT)
    assert wakeups(1, tmp_path / "interrupts") == 717417 + 4603072
