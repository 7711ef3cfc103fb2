# R twin of robustsk.stats.robustness_curve.

# Complete or quasi-complete separation of a one-covariate logistic model with
# intercept: some (a, b) != 0 has a + b * eps >= 0 for every survivor and
# <= 0 for every failure. That holds exactly when all outcomes are equal, or
# the survivors' and failures' eps ranges do not overlap (they may touch).
.separated_1d <- function(eps, y) {
  if (all(y) || !any(y)) return(TRUE)
  e1 <- eps[y]
  e0 <- eps[!y]
  max(e1) <= min(e0) || max(e0) <= min(e1)
}

.curve_design <- function(eps, defense, levels) {
  cols <- list(intercept = rep(1, length(eps)), eps = eps)
  for (l in levels[-1]) {
    d <- as.numeric(defense == l)
    cols[[sprintf("defense[T.%s]", l)]] <- d
    cols[[sprintf("eps:defense[T.%s]", l)]] <- d * eps
  }
  x <- do.call(cbind, cols)
  colnames(x) <- base::names(cols)
  x
}

#' Logistic robustness curve with cluster-robust confidence bands
#'
#' Fits correct ~ eps (with a separate intercept and slope per defense when
#' data has a defense column with more than one level) by maximum likelihood
#' (glm, binomial, logit link). Each example is measured at every eps (and
#' under every defense), so standard errors are cluster-robust by example_id:
#' sandwich::vcovCL(type = "HC1", cadjust = TRUE), i.e. scaled by
#' G / (G - 1) * (N - 1) / (N - K). Bands are pointwise Wald intervals on the
#' logit scale, mapped back with plogis.
#'
#' Separation (some defense survives every attack up to an eps and none above,
#' so the maximum likelihood estimate does not exist) is checked exactly per
#' defense before fitting. on_separation = "raise" stops with an error of class
#' robustsk_separation_error; "warn" warns, fits the other defenses only and
#' reports the separated ones with their observed proportions and NaN bands.
#'
#' @param data data.frame with columns example_id, eps, attack, correct and
#'   optionally defense; eps must hold finite radii >= 0.
#' @param alpha error rate of the pointwise bands.
#' @param grid eps values at which to report the curve (default: 50 points
#'   between the smallest and largest eps plus the observed eps).
#' @param cov_type "cluster" (by example_id) or "nonrobust" (model-based).
#' @param on_separation "raise" or "warn".
#' @param attack NULL (data must hold one attack), an attack name, or
#'   "worst-case" (an example survives at eps if it survives every attack).
#' @param levels optional order of the defense levels (the first is the
#'   reference of the treatment coding). Default: sorted as Python's twin
#'   sorts them, by code point (C-locale order, whatever LC_COLLATE is), so
#'   "TRADES" comes before "madry".
#' @param band "pointwise" (z multiplier) or "simultaneous" (Working-Hotelling:
#'   sqrt(qchisq(1 - alpha, p)) with p fitted coefficients, covering every
#'   curve at every eps at once).
#' @return a list of class robustsk_curve: curve (defense, eps, fitted, low,
#'   high), observed (defense, eps, n, successes, proportion), coefficients,
#'   cov, alpha, cov_type, n_examples, n_obs, separation, separated,
#'   converged, method.
#' @export
robustness_curve <- function(data, alpha = 0.05, grid = NULL, cov_type = "cluster",
                             on_separation = "raise", attack = NULL, levels = NULL,
                             band = "pointwise") {
  data <- .check_tidy(data)
  .check_alpha(alpha)
  cov_type <- .check_choice(cov_type, c("cluster", "nonrobust"), "cov_type")
  on_separation <- .check_choice(on_separation, c("raise", "warn"), "on_separation")
  band <- .check_choice(band, c("pointwise", "simultaneous"), "band")
  if (!("defense" %in% base::names(data))) data$defense <- "all"
  attacks <- unique(data$attack)
  if (is.null(attack)) {
    if (length(attacks) > 1) {
      stop(sprintf("data holds %d attacks (%s); pass attack = one of them or 'worst-case'.",
                   length(attacks), paste(.sort_py(attacks), collapse = ", ")), call. = FALSE)
    }
  } else if (identical(attack, "worst-case")) {
    data <- stats::aggregate(correct ~ example_id + eps + defense, data = data, FUN = all)
  } else {
    if (!(attack %in% attacks)) stop(sprintf("attack '%s' is not in data.", attack), call. = FALSE)
    data <- data[data$attack == attack, ]
  }
  if (anyDuplicated(data[, c("example_id", "eps", "defense")])) {
    stop("data has more than one row for some (example_id, eps, defense); expected one.", call. = FALSE)
  }
  # the reference level is the first in Python's order (code point), not LC_COLLATE's
  if (is.null(levels)) levels <- .sort_py(unique(data$defense))
  levels <- as.character(levels)
  separated <- character(0)
  for (l in levels) {
    rows <- data$defense == l
    if (length(unique(data$eps[rows])) < 2) {
      stop(sprintf("defense '%s' is measured at %d eps value(s); a curve needs at least two.",
                   l, length(unique(data$eps[rows]))), call. = FALSE)
    }
    if (.separated_1d(data$eps[rows], data$correct[rows])) separated <- c(separated, l)
  }
  if (length(separated)) {
    msg <- sprintf(paste("separation: the survival of defense(s) %s is perfectly predicted by eps",
                         "(the logistic fit has no finite maximum likelihood estimate)."),
                   paste(sprintf("'%s'", separated), collapse = ", "))
    if (on_separation == "raise") {
      stop(structure(class = c("robustsk_separation_error", "error", "condition"),
                     list(message = paste(msg, "Drop them, narrow the eps range, or use on_separation = 'warn'."),
                          call = NULL, separated = separated)))
    }
    warning(structure(class = c("robustsk_separation_warning", "warning", "condition"),
                      list(message = paste(msg, "They are reported with observed proportions only."),
                           call = NULL)))
  }
  obs <- stats::aggregate(correct ~ defense + eps, data = data,
                          FUN = function(v) c(n = length(v), successes = sum(v)))
  observed <- data.frame(defense = obs$defense, eps = obs$eps,
                         n = as.integer(obs$correct[, "n"]),
                         successes = as.integer(obs$correct[, "successes"]))
  observed$proportion <- observed$successes / observed$n
  observed <- observed[order(match(observed$defense, levels), observed$eps), ]
  rownames(observed) <- NULL
  if (is.null(grid)) {
    grid <- sort(unique(c(seq(min(data$eps), max(data$eps), length.out = 50), data$eps)))
  }
  grid <- as.numeric(grid)
  fit_levels <- setdiff(levels, separated)
  coefficients <- numeric(0)
  vc <- matrix(numeric(0), 0, 0)
  converged <- TRUE
  if (length(fit_levels)) {
    d <- data[data$defense %in% fit_levels, ]
    x <- .curve_design(d$eps, d$defense, fit_levels)
    y <- as.numeric(d$correct)
    ctrl <- stats::glm.control(epsilon = 1e-12, maxit = 100)
    fit <- stats::glm(y ~ 0 + x, family = stats::binomial(), control = ctrl)
    # glm's covariance uses the IRLS weights of the next-to-last iterate; one
    # more step from the converged estimate puts them at the estimate itself
    # (as statsmodels does), so the two backends agree to ~1e-10, not ~1e-6.
    fit <- stats::glm(y ~ 0 + x, family = stats::binomial(), control = ctrl,
                      start = stats::coef(fit))
    converged <- fit$converged
    vc <- if (cov_type == "cluster") {
      sandwich::vcovCL(fit, cluster = d$example_id, type = "HC1", cadjust = TRUE)
    } else {
      stats::vcov(fit)
    }
    coefficients <- stats::setNames(unname(stats::coef(fit)), colnames(x))
    dimnames(vc) <- list(colnames(x), colnames(x))
  }
  z <- if (band == "simultaneous") sqrt(stats::qchisq(1 - alpha, max(length(coefficients), 1))) else
    stats::qnorm(1 - alpha / 2)
  pieces <- lapply(levels, function(l) {
    if (l %in% separated) {
      o <- observed[observed$defense == l, ]
      return(data.frame(defense = l, eps = grid, fitted = o$proportion[match(grid, o$eps)],
                        low = NaN, high = NaN, stringsAsFactors = FALSE))
    }
    xg <- .curve_design(grid, rep(l, length(grid)), fit_levels)
    eta <- drop(xg %*% coefficients)
    se <- sqrt(rowSums((xg %*% vc) * xg))
    data.frame(defense = l, eps = grid, fitted = stats::plogis(eta),
               low = stats::plogis(eta - z * se), high = stats::plogis(eta + z * se),
               stringsAsFactors = FALSE)
  })
  curve <- do.call(rbind, pieces)
  curve$fitted[is.na(curve$fitted)] <- NaN
  .result(list(curve = curve, observed = observed, coefficients = coefficients, cov = vc,
               alpha = alpha, cov_type = cov_type,
               n_examples = length(unique(data$example_id)), n_obs = nrow(data),
               separation = length(separated) > 0, separated = separated,
               converged = converged, band = band, critical_value = z,
               method = sprintf("logistic GLM, %s standard errors, %s bands",
                                if (cov_type == "cluster") "cluster-robust (by example_id)" else "model-based",
                                band)),
          "robustsk_curve")
}
