"""Files written completely or not at all."""
import os
import os.path as osp
import stat
import tempfile


def _current_umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-by-setting (not thread-safe)
    os.umask(mask)
    return mask


def _final_mode(path: str) -> int:
    """Mode a file written with ``open(path, 'w')`` would get: the existing file's mode
    when it is replaced, else ``0o666 & ~umask`` (``mkstemp`` alone would give 0600)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it and rename it into
    place: readers see the old file or the complete new one, never a partial write.

    The file gets the permissions a plain write would give (the replaced file's mode, or
    ``0o666`` minus the umask), not ``mkstemp``'s private 0600."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(path) + '.', suffix='.tmp',
                               dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), _final_mode(path))
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
