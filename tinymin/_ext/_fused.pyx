# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""im2col fused with the selector GEMMs: the convolution's forward without a column
matrix going through memory.

``im2col_min_gemm`` (the min-selector, step 5 of Algorithm 1) and ``im2col_gemm`` (the
exact layer's product) cut the output rows into blocks of whole output rows of an
image (about ``MB`` rows); a thread takes a block and runs the tile kernels of
``_min_tiles.pxd`` over it while its receptive fields are in the cache. Where the
AVX-512DQ kernels run (``_panel_tiles.h``) and no column matrix is wanted, the tiles
read the zero-padded input itself ("implicit": each row's receptive field start and
each k's offset), so nothing is unfolded; otherwise the block is unfolded first (into
the kept column matrix, or a per-thread buffer). With ``nchw`` each block's rows are
written into the layer's NCHW output, with its bias (exact) or scale (min), while they
are in the cache.

The validating entry points are :func:`tinymin._ext.im2col_min_gemm` and
:func:`tinymin._ext.im2col_gemm`; their numpy twins are in ``tinymin._ext.reference``.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memcpy

from tinymin._ext._lanes cimport MB
from tinymin._ext._min_tiles cimport (_min_block, _min_panel_block, _min_vrange_block, _signs,
                                      tinymin_dot_block_d,
                                      tinymin_dot_block_f, tinymin_dot_implicit_d,
                                      tinymin_dot_implicit_f, tinymin_min_implicit_d,
                                      tinymin_min_implicit_f)
from tinymin._ext._patches cimport _im2col_row

# The NCHW store with AVX-512 (a transpose in registers): _nchw_store.h says why.
cdef extern from "_nchw_store.h":
    const bint TINYMIN_HAS_NCHW_STORE
    void tinymin_rows_to_nchw_f(const float* rows, Py_ssize_t npos, Py_ssize_t C, float* dst,
                                Py_ssize_t Q, const float* scale,
                                const float* bias) noexcept nogil
    void tinymin_rows_to_nchw_d(const double* rows, Py_ssize_t npos, Py_ssize_t C,
                                double* dst, Py_ssize_t Q, const double* scale,
                                const double* bias) noexcept nogil

from tinymin._ext import _min_gemm
from tinymin._ext._im2col import im2col as _im2col
from tinymin._ext._min_gemm import (HAS_VRANGE, _aligned_zeros, _operand_broadcasts,
                                    _pick_vrange, nan_filters_to_nan, out_or_new, pack_panels,
                                    vector_lanes)
from tinymin._ext.threads import num_threads as _num_threads


def im2col_min_gemm(x, w_hat, kernel_size, stride, padding, cols=None, out=None,
                    nchw=False, scale=None, bias=None, vrange=None):
    """``min_gemm(im2col(x, ...), w_hat)`` without the column matrix going through memory.

    Arguments are validated by :func:`tinymin._ext.im2col_min_gemm`; see there. The
    output rows are cut into blocks of whole output rows of an image (about ``MB``
    rows); a thread unfolds one block into its own buffer, which stays in L2, and runs
    the selector kernel over it at once (the panel or the k-lane kernel, as
    :func:`min_gemm` picks), so the column matrix is neither written out nor read back
    (LeNet's conv2: 40 MB each way). With ``cols`` given the block is unfolded there
    instead (the caller keeps the whole matrix, e.g. for a weight gradient) and still
    used while it is in L2; where the AVX-512DQ kernel runs and ``cols`` is not wanted,
    the tiles read ``x`` itself and nothing is unfolded. ``nchw``: the output as (N, C,
    OH, OW), each channel c times ``scale[c]`` if given; ``bias[c]`` added after that.
    ``vrange`` as in :func:`min_gemm_panels`.
    """
    return _im2col_fused(x, w_hat, kernel_size, stride, padding, cols, out,
                         _pick_vrange(vrange, "im2col_min_gemm"), False, bias, nchw, scale)


def im2col_gemm(x, w, kernel_size, stride, padding, cols=None, out=None, bias=None,
                nchw=False):
    """``im2col(x, ...) @ w.T``, fused: the exact layer's forward, as
    :func:`im2col_min_gemm` does the min-selector's.

    Arguments are validated by :func:`tinymin._ext.im2col_gemm`; see there. Only in a
    build with the AVX-512DQ panel kernels (``HAS_VRANGE``): the "dot" kernel of
    ``_panel_tiles.h`` (one FMA per pair, the min kernel's 6 x 64 tile) runs over each
    block of columns while it is in L2. Elsewhere the exact layer calls BLAS. With
    ``nchw`` the output is the layer's (N, C, OH, OW) array, ``bias`` added: each
    block's rows are transposed into it while they are in the cache.
    """
    if not HAS_VRANGE:
        raise RuntimeError("im2col_gemm needs a build with AVX-512DQ (HAS_VRANGE)")
    return _im2col_fused(x, w, kernel_size, stride, padding, cols, out, True, True, bias, nchw)


def _im2col_fused(x, w_hat, kernel_size, stride, padding, cols, out, bint vrange, bint dot,
                  bias=None, bint nchw=False, scale=None):
    # the body of im2col_min_gemm (dot False) and im2col_gemm (dot True)
    N, Cin, H, W = x.shape
    C, K = w_hat.shape
    KH, KW = kernel_size
    SH, SW = stride
    PH, PW = padding
    OH, OW = (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1
    P = N * OH * OW
    if nchw:
        out = np.empty((N, C, OH, OW), x.dtype) if out is None else out
    else:
        out = out_or_new(out, P, C, x.dtype)
    if cols is not None:  # nothing to fuse with: the columns alone
        if C == 0 or K == 0:
            _im2col(x, kernel_size, stride, padding, cols)
    if P == 0 or C == 0:
        return out
    if K == 0:
        out[...] = 0
        if bias is not None:
            out += bias.reshape(1, -1, 1, 1) if nchw else bias
        return out
    if not nchw and scale is not None:
        raise ValueError("im2col_min_gemm: scale= needs nchw=True")
    nt = _num_threads()
    tb = max(1, -(-MB // OW))  # output rows (n, i) per block: at least MB rows of cols
    klanes = K > _min_gemm.PANEL_MAX_K and not dot  # (read at call time: tests change it)
    nl = vector_lanes(x.dtype)
    Kp = -(-K // nl) * nl if klanes else K
    if klanes:  # |w|, sgn(w) zero-padded to Kp; the block buffers' padding stays zero
        ab = _aligned_zeros((C, Kp), x.dtype)
        sg = _aligned_zeros((C, Kp), x.dtype)
        ab[:, :K] = np.abs(w_hat)
        sg[:, :K] = np.sign(w_hat)
        ab, sg = ab[:, None, :], sg[:, None, :]  # 3-D like the panels, for one signature
    elif vrange:  # the weights as they are, for dot and VRANGE min kernels (sg unused)
        ab = sg = pack_panels(w_hat)
    else:  # the portable min tile: |w| and sgn(w)
        pan = pack_panels(w_hat)
        ab, sg = np.abs(pan), np.sign(pan)
    keep = cols is not None
    # implicit: the tiles read the (padded) input itself, no block is unfolded; not for
    # kept columns, the k-lane kernel or the portable tile
    implicit = not keep and not klanes and vrange
    # the VRANGE min kernel reads sgn(x) ds values after x: a block unfolded into the
    # thread's buffer has its signs in the buffer's second half
    signed_block = vrange and not dot and not implicit
    xbuf = _aligned_zeros((nt, 0 if implicit else (2 if signed_block else 1) * tb * OW, Kp),
                          x.dtype)
    cols_view = cols if keep else xbuf[0]  # not written unless keep
    if implicit:
        xpad, koff = _padded_input(x, kernel_size, padding, signs=not dot)
    else:
        xpad, koff = x, np.zeros(1, np.intp)
    rowbuf = np.empty((nt, tb * OW if implicit else 0), np.intp)
    geometry = np.array([KH, KW, SH, SW, PH, PW, OH, OW, tb], dtype=np.intp)
    # with nchw each thread's block of rows goes to ybuf first, then transposed
    ybuf = np.empty((nt, tb * OW if nchw else 0, C), x.dtype)
    rows = out.reshape(N, C, OH * OW)[0] if nchw else out  # (unused with nchw)
    nchw_view = out.reshape(N, C, OH * OW) if nchw else ybuf[:, :0, :]
    none = np.empty(0, x.dtype)
    scale_v = scale if nchw and scale is not None else none
    bias_v = bias if nchw and bias is not None else none  # rows: added below
    if x.dtype == np.float32:
        _fused_run[float](x, ab, sg, xbuf, cols_view, rows, geometry, keep, klanes, vrange,
                          dot, nt, ybuf, nchw_view, scale_v, bias_v, nchw,
                          implicit, xpad, koff, rowbuf, _operand_broadcasts())
    else:
        _fused_run[double](x, ab, sg, xbuf, cols_view, rows, geometry, keep, klanes, vrange,
                           dot, nt, ybuf, nchw_view, scale_v, bias_v, nchw,
                           implicit, xpad, koff, rowbuf, _operand_broadcasts())
    if bias is not None and not nchw:
        out += bias
    if vrange and not dot:
        nan_filters_to_nan(out, w_hat)
    return out


def _padded_input(x, kernel_size, padding, signs=False):
    """``x`` zero-padded (a copy only if there is padding), and ``koff``: where element
    k = (c, u, v) of a receptive field sits relative to the field's first element,
    ``c * Hp * Wp + u * Wp + v`` in the padded (N, C, Hp, Wp) array.

    ``signs``: return (2N, C, Hp, Wp) instead, images N..2N-1 holding sgn of images
    0..N-1, where the VRANGE min kernel reads them (N * C * Hp * Wp values after each x).
    """
    N, Cin, H, W = x.shape
    (KH, KW), (PH, PW) = kernel_size, padding
    Hp, Wp = H + 2 * PH, W + 2 * PW
    if signs or PH or PW:
        xpad = np.empty(((2 if signs else 1) * N, Cin, Hp, Wp), x.dtype)
        if x.dtype == np.float32:
            _pad_planes_run[float](x, PH, PW, xpad, signs)
        else:
            _pad_planes_run[double](x, PH, PW, xpad, signs)
    else:
        xpad = x
    c, u, v = np.meshgrid(np.arange(Cin), np.arange(KH), np.arange(KW), indexing="ij")
    koff = (c * Hp * Wp + u * Wp + v).reshape(-1).astype(np.intp)
    return xpad, koff


cdef _pad_planes_run(const floating[:, :, :, ::1] x, Py_ssize_t PH, Py_ssize_t PW,
                     floating[:, :, :, ::1] xpad, bint signs):
    # every (image, channel) plane of x zero-padded into xpad[:N], and (signs) its
    # signs into xpad[N:], in one pass over each plane (numpy's zeros, slice copy and
    # sign took three), the planes shared among the threads
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], p
    cdef int nt = _num_threads()
    for p in prange(N * C, nogil=True, schedule="static", num_threads=nt):
        _pad_plane(&x[p // C, p % C, 0, 0], H, W, PH, PW, &xpad[p // C, p % C, 0, 0],
                   &xpad[N + p // C, p % C, 0, 0] if signs else NULL)


cdef inline void _pad_plane(const floating* src, Py_ssize_t H, Py_ssize_t W, Py_ssize_t PH,
                            Py_ssize_t PW, floating* dst, floating* sdst) noexcept nogil:
    # one H x W plane into the middle of a (H + 2 PH) x (W + 2 PW) plane of zeros, and
    # (sdst not NULL) the signs of that padded plane into sdst, as _signs writes them
    cdef Py_ssize_t Wp = W + 2 * PW, Hp = H + 2 * PH, i, j
    cdef floating* row
    for i in range(Hp * Wp):
        dst[i] = 0
    for i in range(H):
        row = dst + (PH + i) * Wp + PW
        for j in range(W):
            row[j] = src[i * W + j]
    if sdst != NULL:
        _signs(dst, Hp * Wp, sdst)


cdef inline void _rows_to_nchw_block(const floating* rows, Py_ssize_t C, Py_ssize_t t0,
                                     Py_ssize_t t1, Py_ssize_t OH, Py_ssize_t OW,
                                     floating* nchw, const floating* scale,
                                     const floating* bias) noexcept nogil:
    """The rows of output rows t0..t1-1 (t = n * OH + i; row (t - t0) * OW + j of
    ``rows``, C values each) into the NCHW array: nchw[n, c, i * OW + j], times
    scale[c], then plus bias[c] (each where not NULL).

    Done per block while its rows are in the cache; a whole-array transpose afterwards
    (numpy's copy into NCHW) read them back from memory in one thread. With AVX-512
    the block's rows of each image go to the register transpose of
    ``_nchw_store.h``; elsewhere the loop below runs, which adds the bias in a loop of
    its own, so that gcc cannot fuse it with the scale into one multiply-add: either
    way the result rounds as numpy's ``y * scale`` then ``+ bias`` does.
    """
    cdef Py_ssize_t t, c, j, n, t_end, Q = OH * OW
    cdef const floating* src
    cdef floating* dst
    cdef floating v
    if TINYMIN_HAS_NCHW_STORE:
        t = t0
        while t < t1:  # the block's output rows of image n: consecutive positions
            n = t // OH
            t_end = min(t1, (n + 1) * OH)
            src = rows + (t - t0) * OW * C
            dst = nchw + n * C * Q + (t % OH) * OW
            if floating is float:
                tinymin_rows_to_nchw_f(src, (t_end - t) * OW, C, dst, Q, scale, bias)
            else:
                tinymin_rows_to_nchw_d(src, (t_end - t) * OW, C, dst, Q, scale, bias)
            t = t_end
        return
    for t in range(t0, t1):
        n = t // OH
        src = rows + (t - t0) * OW * C
        for c in range(C):
            dst = nchw + (n * C + c) * Q + (t % OH) * OW
            if scale != NULL:
                v = scale[c]
                for j in range(OW):
                    dst[j] = src[j * C + c] * v
            else:
                for j in range(OW):
                    dst[j] = src[j * C + c]
            if bias != NULL:
                v = bias[c]
                for j in range(OW):
                    dst[j] = dst[j] + v


cdef _fused_run(const floating[:, :, :, ::1] x, const floating[:, :, ::1] ab,
                const floating[:, :, ::1] sg, floating[:, :, ::1] xbuf,
                floating[:, ::1] cols, floating[:, ::1] out, const Py_ssize_t[::1] g,
                bint keep, bint klanes, bint vrange, bint dot, int nt,
                floating[:, :, ::1] ybuf, floating[:, :, ::1] nchw_out,
                const floating[::1] scale, const floating[::1] bias, bint nchw, bint implicit,
                const floating[:, :, :, ::1] xpad, const Py_ssize_t[::1] koff,
                Py_ssize_t[:, ::1] rowbuf, bint operands):
    cdef Py_ssize_t N = x.shape[0], Cin = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t KH = g[0], KW = g[1], SH = g[2], SW = g[3], PH = g[4], PW = g[5]
    cdef Py_ssize_t OH = g[6], OW = g[7], tb = g[8]
    cdef Py_ssize_t K = Cin * KH * KW, Kp = xbuf.shape[2], C = ybuf.shape[2]  # (ybuf: nt x rows x C)
    cdef Py_ssize_t T = N * OH, nblocks = (T + tb - 1) // tb
    cdef Py_ssize_t b, t, t0, t1, nrows, r, j, base
    cdef bint in_buffer
    # the NCHW store's per-channel scale and bias (empty arrays: none)
    cdef const floating* sp = &scale[0] if scale.shape[0] > 0 else NULL
    cdef const floating* bp = &bias[0] if bias.shape[0] > 0 else NULL
    cdef Py_ssize_t Hp = xpad.shape[2], Wp = xpad.shape[3]
    # where sgn(x) lies after x for the VRANGE min kernel: the second half of xpad
    # (implicit) or of the thread's block buffer (explicit)
    cdef Py_ssize_t ds_pad = N * Cin * Hp * Wp, ds_buf = tb * OW * Kp
    cdef Py_ssize_t* ro
    cdef floating* buf
    cdef floating* dst
    cdef floating* rows
    for b in prange(nblocks, nogil=True, schedule="dynamic", num_threads=nt):
        t0 = b * tb
        t1 = T if t0 + tb > T else t0 + tb
        nrows = (t1 - t0) * OW
        buf = &xbuf[threadid(), 0, 0]
        # the block's output rows: in out, or (nchw) this thread's buffer for now
        rows = &ybuf[threadid(), 0, 0] if nchw else &out[t0 * OW, 0]
        if implicit:  # where each row's receptive field starts in xpad; nothing unfolded
            ro = &rowbuf[threadid(), 0]
            for t in range(t0, t1):
                base = (t // OH) * Cin * Hp * Wp + (t % OH) * SH * Wp
                for j in range(OW):
                    ro[(t - t0) * OW + j] = base + j * SW
            if dot:
                if floating is float:
                    tinymin_dot_implicit_f(&xpad[0, 0, 0, 0], ro, &koff[0], nrows, K, C,
                                           &ab[0, 0, 0], rows)
                else:
                    tinymin_dot_implicit_d(&xpad[0, 0, 0, 0], ro, &koff[0], nrows, K, C,
                                           &ab[0, 0, 0], rows)
            else:
                if floating is float:
                    tinymin_min_implicit_f(&xpad[0, 0, 0, 0], ds_pad, ro, &koff[0], nrows, K,
                                           C, &ab[0, 0, 0], rows, operands)
                else:
                    tinymin_min_implicit_d(&xpad[0, 0, 0, 0], ds_pad, ro, &koff[0], nrows, K,
                                           C, &ab[0, 0, 0], rows, operands)
            if nchw:
                _rows_to_nchw_block(rows, C, t0, t1, OH, OW, &nchw_out[0, 0, 0], sp, bp)
            continue
        # unfold the block's rows: into the kept column matrix, or this thread's buffer
        # (always the buffer for the k-lane kernel, whose rows are padded to Kp, and
        # for the VRANGE min kernel, which reads their signs from the buffer's second
        # half)
        in_buffer = klanes or (vrange and not dot)
        dst = &cols[t0 * OW, 0] if keep and not in_buffer else buf
        for t in range(t0, t1):
            _im2col_row(&x[t // OH, 0, 0, 0], Cin, H, W, KH, KW, SW, PW,
                        (t % OH) * SH - PH, OW, dst + (t - t0) * OW * Kp, Kp)
        if keep and in_buffer:
            for r in range(nrows):
                memcpy(&cols[t0 * OW + r, 0], buf + r * Kp, K * sizeof(floating))
        if klanes:
            _min_block(buf, nrows, Kp, C, &ab[0, 0, 0], &sg[0, 0, 0], rows)
        elif dot:
            if floating is float:
                tinymin_dot_block_f(dst, nrows, K, C, &ab[0, 0, 0], rows)
            else:
                tinymin_dot_block_d(dst, nrows, K, C, &ab[0, 0, 0], rows)
        elif vrange:
            _signs(buf, nrows * K, buf + ds_buf)
            _min_vrange_block(buf, ds_buf, nrows, K, C, &ab[0, 0, 0], rows, operands)
        else:
            _min_panel_block(dst, nrows, K, C, &ab[0, 0, 0], &sg[0, 0, 0], rows)
        if nchw:
            _rows_to_nchw_block(rows, C, t0, t1, OH, OW, &nchw_out[0, 0, 0], sp, bp)
