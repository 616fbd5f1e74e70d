#!/usr/bin/env python3
"""Helpers of infra/setup-tfjs.sh: stage a TensorFlow wheel's C library into tfjs-node(-gpu)'s deps/ and, for the
GPU build, provision and check the CUDA libraries it loads. Standard library only.

  extract WHEEL OUT              libtensorflow_cc.so.2, libtensorflow_framework.so.2 and the C API headers
  cuda-requirements WHEEL        the nvidia-*-cu12 requirements of the wheel's `and-cuda` extra (METADATA)
  unpack-cuda OUT WHEEL...       unpack nvidia wheels with their site-packages layout (OUT/nvidia/<lib>/lib/...)
  complete-runpath DEPS          give the staged libtensorflow_framework.so.2 a RUNPATH entry for every CUDA
                                 library TensorFlow's GPU start-up check needs (2.21's omits cusolver)
  check-cuda DEPS                load every CUDA library the GPU build needs the way TensorFlow does, from DEPS

The GPU build of libtensorflow links no CUDA library (readelf -d: no NEEDED entry); TensorFlow dlopens them by
soname from libtensorflow_framework.so.2 (xla/tsl/platform/default/dso_loader.cc), so their search path is that
library's RUNPATH: $ORIGIN/../nvidia/<lib>/lib, i.e. DEPS/nvidia/<lib>/lib next to DEPS/lib.
"""

import ctypes
import os
import re
import subprocess
import sys
import zipfile

HEADERS = (
    'tensorflow/include/tensorflow/c/',
    'tensorflow/include/tensorflow/core/platform/',
    'tensorflow/include/tensorflow/tsl/',
    'tensorflow/include/tsl/',
    'tensorflow/include/xla/tsl/',
)
LIBS = ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2')

# What TensorFlow 2.21 dlopens by soname (dso_loader.cc, versions from its cuda_config.h), with the nvidia wheel
# directory that holds it. TF_GPU_CHECK: dlopen_checker.cc's TryDlopenCUDALibraries; if one of these fails,
# TensorFlow logs "Cannot dlopen some GPU libraries ... Skipping registering GPU devices" and runs on the CPU.
TF_DLOPENED = {
    'libcudart.so.12': 'cuda_runtime',
    'libcublas.so.12': 'cublas',
    'libcublasLt.so.12': 'cublas',
    'libcufft.so.11': 'cufft',
    'libcusolver.so.11': 'cusolver',
    'libcusparse.so.12': 'cusparse',
    'libcudnn.so.9': 'cudnn',
    'libcupti.so.12': 'cuda_cupti',  # profiler only
    'libnccl.so.2': 'nccl',  # multi-GPU collectives only
}
TF_GPU_CHECK = {'libcudart.so.12', 'libcublas.so.12', 'libcublasLt.so.12', 'libcufft.so.11', 'libcusolver.so.11',
                'libcusparse.so.12', 'libcudnn.so.9'}


def extract(wheel, out):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name in LIBS or (name.startswith(HEADERS) and name.endswith('.h')):
                z.extract(name, out)


def cuda_requirements(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
        text = z.read(meta).decode()
    reqs = []
    for line in text.splitlines():
        m = re.match(r'Requires-Dist:\s*(nvidia-[^;\s]+)\s*(\S[^;]*)?;\s*extra\s*==\s*"and-cuda"', line)
        if m:
            reqs.append(m.group(1) + (m.group(2) or '').replace(' ', ''))
    if not reqs:
        sys.exit(f'tfjs-deps: {wheel} declares no nvidia-* requirement for the and-cuda extra')
    print('\n'.join(reqs))


def unpack_cuda(out, wheels):
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            for info in z.infolist():
                if info.filename.startswith('nvidia/') and not info.is_dir():
                    path = z.extract(info, out)
                    mode = (info.external_attr >> 16) & 0o777  # zipfile drops modes: ptxas must stay executable
                    if mode:
                        os.chmod(path, mode)


def runpath(lib):
    out = subprocess.run(['readelf', '-d', lib], check=True, capture_output=True, text=True).stdout
    m = re.search(r'\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.*)\]', out)
    return m.group(1) if m else ''


def complete_runpath(deps):
    """Adds the missing $ORIGIN/../nvidia/<lib>/lib entries by overwriting, in place and at the same length, entries
    that point outside the staged tree ($ORIGIN/../../..., for the pip layout's python/ subdirectory): no ELF layout
    change, no extra tool. Only the staged copy is changed, never the cached wheel."""
    lib = os.path.join(deps, 'lib', 'libtensorflow_framework.so.2')
    current = runpath(lib)
    entries = current.split(':')
    wanted = [f'$ORIGIN/../nvidia/{TF_DLOPENED[s]}/lib' for s in sorted(TF_GPU_CHECK)]
    missing = sorted({w for w in wanted if w not in entries})
    if not missing:
        return
    for want in missing:
        spare = next((i for i, e in enumerate(entries) if e.startswith('$ORIGIN/../../') and len(e) >= len(want)), None)
        if spare is None:
            sys.exit(f'tfjs-deps: no spare RUNPATH entry in {lib} to add {want}')
        entries[spare] = want + '/' * (len(entries[spare]) - len(want))  # extra slashes keep the length
    patched = ':'.join(entries)
    with open(lib, 'r+b') as f:
        data = f.read()
        old = current.encode() + b'\0'
        at = data.find(old)
        if at < 0 or data.find(old, at + 1) >= 0:
            sys.exit(f'tfjs-deps: RUNPATH of {lib} not found exactly once')
        f.seek(at)
        f.write(patched.encode())
    if runpath(lib) != patched:
        sys.exit(f'tfjs-deps: rewriting the RUNPATH of {lib} failed')
    print(f'tfjs-deps: RUNPATH of the staged libtensorflow_framework.so.2 += {", ".join(missing)}')


def mapped_file(name):
    with open('/proc/self/maps') as maps:
        for line in maps:
            path = line.split()[-1]
            if path.startswith('/') and os.path.basename(path) == name:
                return path
    return None


def unresolved(lib):
    out = subprocess.run(['ldd', lib], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if '=> not found' in line]


def check_cuda(deps):
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    deps = os.path.abspath(deps)
    tree = os.path.realpath(os.path.join(deps, 'nvidia'))
    rows, failed = [], False
    # The driver library comes from the host (the NVIDIA driver, or the NVIDIA Container Toolkit in a container).
    try:
        ctypes.CDLL('libcuda.so.1')
        driver = True
    except OSError:
        driver = False

    def row(name, how, path, ok, note=''):
        nonlocal failed
        failed |= not ok
        shown = os.path.relpath(os.path.realpath(path), tree) if path else '-'
        rows.append(f'  {"ok  " if ok else "FAIL"} {name:<38} {how:<22} {shown}{"  " + note if note else ""}')

    try:
        cc = ctypes.CDLL(os.path.join(deps, 'lib', 'libtensorflow_cc.so.2'))
    except OSError as e:
        sys.exit(f'tfjs-deps: no staged TensorFlow ({e}): run infra/setup-tfjs.sh gpu')
    cc.TF_NewStatus.restype = ctypes.c_void_p
    cc.TF_DeleteStatus.argtypes = [ctypes.c_void_p]
    cc.TF_LoadLibrary.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    cc.TF_LoadLibrary.restype = ctypes.c_void_p
    cc.TF_GetCode.argtypes = [ctypes.c_void_p]
    cc.TF_Message.argtypes = [ctypes.c_void_p]
    cc.TF_Message.restype = ctypes.c_char_p
    cc.TF_Version.restype = ctypes.c_char_p
    print(f'tfjs-deps: TensorFlow {cc.TF_Version().decode()} in {deps}/lib; CUDA libraries from {tree}')

    # TF_LoadLibrary dlopens through the same tsl::internal::LoadDynamicLibrary in libtensorflow_framework.so.2
    # that TensorFlow's DSO loader uses, so the search (that library's RUNPATH) is exactly TensorFlow's.
    for name, wheel_dir in TF_DLOPENED.items():
        status = cc.TF_NewStatus()
        cc.TF_LoadLibrary(name.encode(), status)
        code, message = cc.TF_GetCode(status), cc.TF_Message(status).decode()
        cc.TF_DeleteStatus(status)
        path = mapped_file(name)
        inside = bool(path) and os.path.realpath(path).startswith(os.path.join(tree, wheel_dir) + os.sep)
        note = '' if code == 0 and inside else (message or f'loaded from outside the staged tree: {path}')
        how = 'TF dlopen (GPU check)' if name in TF_GPU_CHECK else 'TF dlopen'
        row(name, how, path, code == 0 and inside, note)

    # What those load in turn: their NEEDED entries (e.g. cusparse/cusolver -> libnvJitLink.so.12, cuDNN -> libz)
    # resolve through their own $ORIGIN-relative RUNPATHs; cuDNN dlopens its sub-libraries and NVRTC lazily.
    lazy = [('cudnn/lib', r'libcudnn_\w+\.so\.9$', 'cuDNN dlopen'),
            ('cuda_nvrtc/lib', r'libnvrtc(-builtins)?\.so\.[\d.]+$', 'cuDNN dlopen (NVRTC)'),
            ('nvjitlink/lib', r'libnvJitLink\.so\.12$', 'NEEDED by cusparse')]
    for sub, pattern, how in lazy:
        folder = os.path.join(deps, 'nvidia', sub)
        names = sorted(n for n in os.listdir(folder) if re.match(pattern, n)) if os.path.isdir(folder) else []
        if not names:
            row(pattern, how, None, False, f'nothing in {folder}')
        for name in names:
            path = os.path.join(folder, name)
            try:
                ctypes.CDLL(path)
                row(name, how, path, True)
            except OSError as e:
                # A library that links the driver cannot load without one; then at least all its other NEEDED
                # entries must resolve.
                if not driver and unresolved(path) == ['libcuda.so.1']:
                    row(name, how, path, True, 'NEEDED libcuda.so.1 (driver) absent here, all else resolves (ldd)')
                else:
                    row(name, how, path, False, str(e))

    # XLA compiles its kernels with ptxas and libdevice, which it looks for in <dir of libtensorflow>/../nvidia/
    # cuda_nvcc (xla/tsl/platform/default/cuda_root_path.cc) among other roots; --xla_gpu_cuda_data_dir overrides.
    nvcc = os.path.join(deps, 'nvidia', 'cuda_nvcc')
    ptxas = os.path.join(nvcc, 'bin', 'ptxas')
    try:
        out = subprocess.run([ptxas, '--version'], check=True, capture_output=True, text=True).stdout
        row('ptxas', 'XLA (executable)', ptxas, True, out.strip().splitlines()[-1])
    except (OSError, subprocess.CalledProcessError) as e:
        row('ptxas', 'XLA (executable)', None, False, str(e))
    libdevice = os.path.join(nvcc, 'nvvm', 'libdevice', 'libdevice.10.bc')
    row('libdevice.10.bc', 'XLA (bitcode)', libdevice if os.path.isfile(libdevice) else None,
        os.path.isfile(libdevice))

    rows.append(f'  info {"libcuda.so.1 (driver)":<38} {"host":<22} ' +
                ('present' if driver else 'absent: no NVIDIA driver here, TensorFlow computes on the CPU'))
    print('\n'.join(rows))
    if failed:
        sys.exit('tfjs-deps: the GPU build cannot load all of its CUDA libraries from the staged tree (FAIL above)')


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'extract':
        extract(*args)
    elif cmd == 'cuda-requirements':
        cuda_requirements(*args)
    elif cmd == 'unpack-cuda':
        unpack_cuda(args[0], args[1:])
    elif cmd == 'complete-runpath':
        complete_runpath(*args)
    elif cmd == 'check-cuda':
        check_cuda(*args)
    else:
        sys.exit(f'tfjs-deps: unknown command {cmd}')


if __name__ == '__main__':
    main()
