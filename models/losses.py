"""Losses of the course material: perceptual content loss, Gram-matrix style loss, total
variation, and SSIM (for the anomaly autoencoder)."""
import torch
import torch.nn.functional as F


def gram_matrix(features):
    """G_{c,c'} = sum_{h,w} phi_{h,w,c} phi_{h,w,c'} / (C H W), per batch item: [N,C,C]."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def content_loss(features_out, features_target):
    """l_feat = ||phi(y_hat) - phi(y)||_2^2 / (C H W), averaged over the batch."""
    n = features_out.shape[0]
    return (features_out - features_target).pow(2).sum() / features_out[0].numel() / n


def style_loss(features_out, style_grams):
    """Sum over layers of the squared Frobenius distance between Gram matrices."""
    total = 0.0
    for f, g in zip(features_out, style_grams):
        total = total + (gram_matrix(f) - g).pow(2).sum(dim=(1, 2)).mean()
    return total


def total_variation(x):
    """Mean absolute difference between neighbouring pixels (smoothness prior)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def _gaussian_window(size=11, sigma=1.5, channels=3, device=None):
    g = torch.exp(-((torch.arange(size, device=device) - size // 2) ** 2) / (2 * sigma**2))
    g = (g / g.sum()).float()
    return (g[:, None] @ g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim_map(a, b, size=11, sigma=1.5):
    """Per-pixel SSIM (Wang et al. 2004) of images in 0..1, averaged over channels: [N,1,H,W]."""
    c = a.shape[1]
    window = _gaussian_window(size, sigma, c, a.device)
    pad = size // 2

    def blur(x):
        return F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), window, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=1, keepdim=True)
