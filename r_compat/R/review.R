# The R experiment of Li, Cheng, Hsieh and Lee (2022, The American
# Statistician): an L1-regularised logistic regression attacked by PGD on the
# closed-form gradient of log(1 + exp(-y w'x)). R twin of robustsk.review.
# LIBLINEAR (R package LiblineaR) is not available offline, so the fit is a
# coordinate descent written here; Python runs the same steps
# (robustsk.review.fit_l1_logistic) and compares both with scikit-learn's
# LIBLINEAR.

#' The review's stand-in data: digits 0 vs 1, labels -1/+1, pixels 0-255
#'
#' @param path CSV written by inst/extdata/make_digits01.py; NULL finds the
#'   installed file, or r_compat/inst/extdata of a source checkout.
#' @return a list with x_train, y_train, x_test, y_test (numeric matrices and vectors).
#' @export
review_digits01 <- function(path = NULL) {
  if (is.null(path)) {
    path <- system.file("extdata", "digits01.csv", package = "robustsk")
    if (!nzchar(path)) {
      here <- c(file.path("inst", "extdata", "digits01.csv"),
                file.path("..", "..", "inst", "extdata", "digits01.csv"),
                file.path("r_compat", "inst", "extdata", "digits01.csv"))
      path <- here[file.exists(here)][1]
    }
  }
  if (is.na(path) || !file.exists(path)) {
    stop("digits01.csv not found: pass path = 'r_compat/inst/extdata/digits01.csv', or run python r_compat/inst/extdata/make_digits01.py.", call. = FALSE)
  }
  d <- utils::read.csv(path, stringsAsFactors = FALSE)
  x <- as.matrix(d[, grepl("^x[0-9]+$", names(d))])
  tr <- d$split == "train"
  list(x_train = x[tr, , drop = FALSE], y_train = as.numeric(d$label[tr]),
       x_test = x[!tr, , drop = FALSE], y_test = as.numeric(d$label[!tr]))
}

.log1pexp_neg <- function(m) ifelse(m > 0, log1p(exp(-m)), -m + log1p(exp(m)))  # log(1 + exp(-m))

#' L1-regularised logistic regression without intercept (coordinate descent)
#'
#' Minimises ||w||_1 + cost * sum(log(1 + exp(-y x'w))) (LIBLINEAR type 6,
#' bias = 0) by one proximal Newton step per coordinate with Armijo
#' backtracking (Yuan et al. 2010, CDN), until the largest violation of the
#' optimality conditions is below tol. Same steps as robustsk.review.fit_l1_logistic.
#'
#' @param x numeric matrix; @param y labels -1/+1; @param cost C (0.5 in the review).
#' @param tol,max_iter stopping rule: violation < tol or max_iter passes.
#' @return a list: w, objective, n_iter, converged, violation.
#' @export
review_fit_l1_logistic <- function(x, y, cost = 0.5, tol = 1e-4, max_iter = 1000L) {
  x <- as.matrix(x)
  storage.mode(x) <- "double"
  y <- as.numeric(y)
  if (!all(y %in% c(-1, 1))) stop("y must hold -1 and +1 only (the review's coding).", call. = FALSE)
  if (nrow(x) != length(y)) stop(sprintf("x has %d rows but y has %d labels.", nrow(x), length(y)), call. = FALSE)
  p <- ncol(x)
  w <- numeric(p)
  z <- numeric(nrow(x))
  sigma <- 0.01
  it <- 0L
  violation <- Inf
  for (it in seq_len(max_iter)) {
    violation <- 0
    for (j in seq_len(p)) {
      xj <- x[, j]
      if (!any(xj != 0)) next
      s <- 1 / (1 + exp(y * z))
      g <- -cost * sum(y * xj * s)
      h <- max(cost * sum(xj * xj * s * (1 - s)), 1e-12)
      wj <- w[j]
      v <- if (wj > 0) abs(g + 1) else if (wj < 0) abs(g - 1) else max(abs(g) - 1, 0)
      violation <- max(violation, v)
      d <- if (g + 1 <= h * wj) -(g + 1) / h else if (g - 1 >= h * wj) -(g - 1) / h else -wj
      if (abs(d) < 1e-14) next
      decrease <- g * d + abs(wj + d) - abs(wj)
      f0 <- cost * sum(.log1pexp_neg(y * z)) + abs(wj)
      t <- 1
      for (k in 1:50) {
        zn <- z + t * d * xj
        f1 <- cost * sum(.log1pexp_neg(y * zn)) + abs(wj + t * d)
        if (f1 - f0 <= sigma * t * decrease) break
        t <- t / 2
      }
      w[j] <- wj + t * d
      z <- zn
    }
    if (violation < tol) break
  }
  list(w = w, objective = sum(abs(w)) + cost * sum(.log1pexp_neg(y * drop(x %*% w))),
       n_iter = it, converged = violation < tol, violation = violation)
}

#' Gradient of log(1 + exp(-y w'x)) in x, one row per example (the review's formula)
#'
#' -y / (1 + exp(y w'x)) * w; exactly 0 when y w'x exceeds about 709.78 (exp overflows).
#' @param w weights; @param x matrix of examples; @param y labels -1/+1.
#' @export
review_gradient <- function(w, x, y) {
  scale <- -y / (1 + exp(y * drop(x %*% w)))
  outer(scale, w)
}

#' The review's PGD on a linear logistic model: signed steps, no random start, no clipping
#'
#' @param w weights; @param x matrix of examples (pixels 0-255); @param y labels -1/+1.
#' @param eps,step,n_iter radius, step and steps (8, 1, 40 in the review).
#' @return the adversarial examples, a matrix like x.
#' @export
review_pgd <- function(w, x, y, eps = 8, step = 1, n_iter = 40L) {
  x <- as.matrix(x)
  storage.mode(x) <- "double"
  x_adv <- x
  for (i in seq_len(n_iter)) {
    x_adv <- x_adv + step * sign(review_gradient(w, x_adv, y))
    x_adv <- pmin(pmax(x_adv, x - eps), x + eps)
  }
  x_adv
}

#' Check that x %*% w has the sign of the model's decision values
#'
#' LiblineaR orders classes by first appearance in the training labels, so
#' its W can point to class -1; PGD with such a w pushes points towards their
#' own class and overstates robustness.
#' @param w weights; @param x examples; @param decision the model's decision values.
#' @return TRUE, or an error saying to use -w.
#' @export
review_check_sign <- function(w, x, decision) {
  ours <- sign(drop(as.matrix(x) %*% w))
  theirs <- sign(decision)
  keep <- ours != 0 & theirs != 0
  agree <- if (any(keep)) mean(ours[keep] == theirs[keep]) else 1
  if (agree < 1) {
    stop(sprintf("sign(x %%*%% w) agrees with the decision values on %.1f%% of the examples: w points to the other class. Use -w (LiblineaR orders classes by first appearance).",
                 100 * agree), call. = FALSE)
  }
  TRUE
}

#' The review's experiment: fit (or take) w, attack the correctly classified test points
#'
#' @param data list from review_digits01().
#' @param w weights to use instead of fitting (e.g. scikit-learn's, from Python).
#' @param cost,eps,step,n_iter as in the review (0.5, 8, 1, 40).
#' @return a list of class robustsk_review: w, objective, clean_correct,
#'   adv_correct, clean_accuracy, robust (over all test points, the review's
#'   corr / n), robust_conditional (over the clean-correct ones), n_zero_gradient.
#' @export
review_experiment <- function(data = review_digits01(), w = NULL, cost = 0.5, eps = 8, step = 1,
                              n_iter = 40L) {
  solver <- "given"
  if (is.null(w)) {
    w <- review_fit_l1_logistic(data$x_train, data$y_train, cost = cost)$w
    solver <- "cd"
  }
  w <- as.numeric(w)
  x <- as.matrix(data$x_test)
  y <- as.numeric(data$y_test)
  predict_sign <- function(xx) ifelse(drop(xx %*% w) > 0, 1, -1)
  clean_correct <- predict_sign(x) == y
  attacked <- which(clean_correct)
  adv_correct <- logical(length(y))
  n_zero <- 0L
  if (length(attacked)) {
    xa <- x[attacked, , drop = FALSE]
    x_adv <- review_pgd(w, xa, y[attacked], eps = eps, step = step, n_iter = n_iter)
    adv_correct[attacked] <- predict_sign(x_adv) == y[attacked]
    n_zero <- sum(rowSums(review_gradient(w, xa, y[attacked]) != 0) == 0)
  }
  xtr <- as.matrix(data$x_train)
  .result(list(w = w, solver = solver,
               objective = sum(abs(w)) + cost * sum(.log1pexp_neg(data$y_train * drop(xtr %*% w))),
               eps = eps, step = step, n_iter = as.integer(n_iter),
               clean_correct = clean_correct, adv_correct = adv_correct,
               clean_accuracy = mean(clean_correct),
               robust = robust_accuracy_from_correct(clean_correct, adv_correct, "all"),
               robust_conditional = robust_accuracy_from_correct(clean_correct, adv_correct, "clean_correct"),
               n_zero_gradient = as.integer(n_zero)),
          "robustsk_review")
}

#' @export
print.robustsk_review <- function(x, ...) {
  cat(sprintf("<robustsk_review> w: %d of %d weights non-zero (solver %s), objective %.6g\n",
              sum(x$w != 0), length(x$w), x$solver, x$objective))
  cat(sprintf("PGD eps %g, step %g, %d steps: clean accuracy %.4f; robust accuracy %.4f (%d/%d), over clean-correct %.4f (%d/%d); %d zero gradients\n",
              x$eps, x$step, x$n_iter, x$clean_accuracy, x$robust$estimate, x$robust$successes,
              x$robust$n, x$robust_conditional$estimate, x$robust_conditional$successes,
              x$robust_conditional$n, x$n_zero_gradient))
  invisible(x)
}
